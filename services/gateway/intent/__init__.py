"""Read what an owner meant by a text or email reply (zh-CN and en)."""
from services.gateway.intent.follow_up import ask_for_a_day
from services.gateway.intent.reader import Reading, read_reply

__all__ = ["Reading", "ask_for_a_day", "read_reply"]
