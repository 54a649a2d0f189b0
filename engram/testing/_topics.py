"""The support topics the simulated task model knows (stand-in content, not a model).

Each topic has the words that identify it in a customer message, a one-line summary,
three steps and a help-center slug::

    from engram.testing._topics import match_topic
    match_topic("I forgot my password").key    # 'password_reset'
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    key: str
    title: str
    keywords: tuple[str, ...]
    summary: str
    steps: tuple[str, str, str]
    slug: str
    questions: tuple[str, ...]  # how simulated users ask about it


TOPICS: tuple[Topic, ...] = (
    Topic("password_reset", "resetting your password", ("password", "log in", "login", "locked out"),
          "You can reset your password from the sign-in page.",
          ("Open the sign-in page and click 'Forgot password'", "Enter the email on your account",
           "Follow the link in the email we send you and choose a new password"),
          "reset-password",
          ("I forgot my password and can't log in.", "I'm locked out of my account, how do I reset my password?",
           "The password reset email never arrived, what should I do?")),
    Topic("refund", "your refund", ("refund", "charged twice", "money back", "double charge"),
          "Refunds for duplicate or mistaken charges go back to the original payment method.",
          ("Open Billing and select the charge", "Click 'Request refund' and pick a reason",
           "Wait 5-7 business days for the money to reach your card"),
          "request-refund",
          ("I was charged twice this month and want a refund.", "How do I get my money back for a charge I didn't expect?",
           "Can I get a refund for last month? I didn't use the service.")),
    Topic("shipping", "your delivery", ("order", "package", "delivery", "shipping", "shipped", "tracking"),
          "Most orders arrive within 5 business days; the tracking page shows where yours is.",
          ("Open Orders and pick the order", "Click 'Track package' to see the carrier status",
           "If it shows no movement for 3 days, open a claim from the same page"),
          "track-order",
          ("My package hasn't arrived yet, where is it?", "The tracking number for my order doesn't work.",
           "My delivery is a week late.")),
    Topic("cancel", "cancelling your subscription", ("cancel", "unsubscribe", "stop my subscription"),
          "You can cancel any time; you keep access until the end of the billing period.",
          ("Open Settings and then Subscription", "Click 'Cancel subscription'",
           "Confirm, and keep the confirmation email we send"),
          "cancel-subscription",
          ("How do I cancel my subscription?", "I want to stop my subscription before the next charge.",
           "Please help me unsubscribe, I can't find the button.")),
    Topic("change_plan", "changing your plan", ("upgrade", "downgrade", "change my plan", "switch plan", "cheaper plan"),
          "Plan changes take effect immediately and the price difference is prorated.",
          ("Open Settings and then Plan", "Choose the new plan and review the prorated price",
           "Click 'Confirm change'"),
          "change-plan",
          ("How do I upgrade my plan?", "I'd like to downgrade to a cheaper plan.",
           "Can I switch plan in the middle of the month?")),
    Topic("two_factor", "two-factor authentication", ("two-factor", "2fa", "authenticator", "verification code"),
          "Two-factor authentication adds a one-time code to every sign-in.",
          ("Open Settings and then Security", "Click 'Enable two-factor' and scan the QR code",
           "Enter the 6-digit code from your authenticator app to confirm"),
          "two-factor",
          ("How do I turn on two-factor authentication?", "My 2FA verification code is always rejected.",
           "I got a new phone, how do I move my authenticator?")),
    Topic("export", "exporting your data", ("export", "download my data", "csv", "backup"),
          "You can export all your data as a CSV archive.",
          ("Open Settings and then Privacy", "Click 'Export data' and choose CSV",
           "Download the archive from the email link within 24 hours"),
          "export-data",
          ("How can I export my data to CSV?", "I need a backup of everything in my account.",
           "Where do I download my data?")),
    Topic("crash", "the app crashing", ("crash", "crashes", "freezes", "won't open", "bug"),
          "Most crashes are fixed by updating the app and clearing its cache.",
          ("Update the app to the latest version", "Clear the app cache in your device settings",
           "Restart the device and open the app again"),
          "app-crashes",
          ("The app crashes every time I open it.", "The app freezes when I upload a photo.",
           "After the update the app won't open.")),
    Topic("payment_method", "updating your payment method", ("card", "payment method", "billing details", "expired"),
          "You can change the card we charge at any time before the next invoice.",
          ("Open Billing and then Payment methods", "Click 'Add card' and enter the new card",
           "Set it as default and remove the old one"),
          "payment-method",
          ("My card expired, how do I update it?", "How do I change the card you charge?",
           "I need to update my billing details.")),
)

GENERIC = Topic("general", "your question", (), "Here is what I can tell you about your question.",
                ("Open Settings", "Find the section your question is about", "Follow the on-screen instructions"),
                "getting-started", ("I have a question about my account.",))

TOPICS_BY_KEY: dict[str, Topic] = {t.key: t for t in TOPICS}


def match_topic(message: str) -> Topic:
    """The topic whose keywords occur most often in ``message`` (ties: catalog order); else GENERIC."""
    text = (message or "").lower()
    best, best_hits = GENERIC, 0
    for topic in TOPICS:
        hits = sum(1 for k in topic.keywords if re.search(r"\b" + re.escape(k) + r"\b", text))
        if hits > best_hits:
            best, best_hits = topic, hits
    return best
