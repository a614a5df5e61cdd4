"""Why a change to staff, groups or assignments is refused."""
from __future__ import annotations


class PeopleRefused(ValueError):
    """A change to staff, groups or assignments that the rules do not allow."""


class UsernameTaken(PeopleRefused):
    pass


class GroupNameTaken(PeopleRefused):
    pass


class NotInCommunity(PeopleRefused):
    """Some staff do not (actively) work in the community concerned."""

    def __init__(self, staff_ids):
        super().__init__(f"not staff of this community: {sorted(staff_ids)}")
        self.staff_ids = sorted(staff_ids)


class CaseClosed(PeopleRefused):
    pass
