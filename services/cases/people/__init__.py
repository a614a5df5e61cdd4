"""Staff, sign-in, collection groups and who works which case (明确分工).

Plain functions over a connection, so the API, the sweep and the reports share them. A case goes
to a group by rule (prior-year arrears, hard cases for the manager, the rest to the supervisor's
group) and, within the group, to the active member holding the fewest open cases. Every change of
hands is a row in case_assignments: the history a ranking or a dispute can be read from.
"""
from services.cases.people import sessions
from services.cases.people.assignment import (
    HARD_FROM_STAGE,
    Assignment,
    AutoAssignment,
    assignment_history,
    auto_assign,
    group_kind_for,
    open_loads,
    reassign,
)
from services.cases.people.credentials import FailedSignIns, SignedIn, sign_in
from services.cases.people.groups import GROUP_KINDS, create_group, group_row, groups_of, set_members
from services.cases.people.refusals import (
    CaseClosed,
    GroupNameTaken,
    NotInCommunity,
    PeopleRefused,
    UsernameTaken,
)
from services.cases.people.staff_accounts import (
    MANAGER_MAY_APPOINT,
    USERNAME_PATTERN,
    NewStaff,
    communities_of,
    create_staff,
    new_password,
    normalise_username,
    password_matches,
    set_password,
    staff_page,
    staff_record,
    unknown_communities,
    update_staff,
    working_in,
)

__all__ = [
    "GROUP_KINDS", "HARD_FROM_STAGE", "MANAGER_MAY_APPOINT", "USERNAME_PATTERN", "Assignment", "AutoAssignment",
    "CaseClosed", "FailedSignIns", "GroupNameTaken", "NewStaff", "NotInCommunity", "PeopleRefused", "SignedIn",
    "UsernameTaken", "assignment_history", "auto_assign", "communities_of", "create_group", "create_staff",
    "group_kind_for", "group_row", "groups_of", "new_password", "normalise_username", "open_loads", "reassign",
    "password_matches", "sessions", "set_members", "set_password", "sign_in", "staff_page", "staff_record", "unknown_communities", "update_staff", "working_in",
]
