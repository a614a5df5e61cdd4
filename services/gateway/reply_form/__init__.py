"""The owner's reply form (律师函后函): a page on the gateway that publishes form.submitted."""
from services.gateway.reply_form.pages import bp

__all__ = ["bp"]
