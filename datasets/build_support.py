"""Build datasets/support.jsonl: a support-assistant dataset with user feedback.

Reproducible: ``python datasets/build_support.py`` rewrites the file byte for byte.

The customer messages and the closing remarks below are hand-written. The people are the
first 8 users of the offline simulated world (``engram.testing.World(seed=0)``), so their
facts (name, city, plan, product, contact preference) fill the ``{placeholders}`` and their
hidden preferences decide the feedback. The assistant replies come from the world's task
model (an offline stand-in, not a real model) under two prompt versions:

- ``support`` v1 — the seed prompt, which asks for none of the traits users care about;
- ``support`` v2 — the seed prompt plus "be concise" and "numbered steps".

Each score is the user's satisfaction (the fraction of their hidden preferences the reply
meets); each comment uses the world's complaint / praise phrases plus the hand-written
remark, so an optimizer can learn the missing instructions from the words alone.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import engram  # noqa: F401  (sets LITELLM_LOCAL_MODEL_COST_MAP before anything loads LiteLLM)
from engram.testing._topics import match_topic
from engram.testing._world import SEED_PROMPT, World
from engram.trajectories import Feedback, Trajectory, TrajectoryDataset

PROMPTS = {
    "1": SEED_PROMPT,
    "2": SEED_PROMPT + " Be concise: answer in a few short sentences with no filler. "
                       "Write any instructions as numbered steps.",
}
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)

# Per user: 8 threads of (topic, [customer turns], closing remark). Hand-written.
# Placeholders: {name} {city} {plan} {product} {contact}. Threads 1-5 ran on prompt v1, 6-8 on v2.
THREADS: list[list[tuple[str, list[str], str]]] = [
    [  # user 1
        ("password_reset", ["Hi, I'm {name} from {city}. I forgot my password and can't log in.",
                            "The reset email went to spam, I found it. Now what?"], "I was in a hurry."),
        ("refund", ["I'm on the {plan} plan and I was charged twice this month. I want a refund."], ""),
        ("export", ["I need a backup of everything in my account, can I export it to CSV?"], "Took me a while."),
        ("crash", ["The app crashes every time I open it on {product}."], "Still annoying."),
        ("shipping", ["My package hasn't arrived, the tracking page shows nothing.",
                      "Please write to me by {contact}, not phone."], ""),
        ("two_factor", ["How do I turn on two-factor authentication?"], "Better than last time."),
        ("payment_method", ["My card expired, how do I update my payment method?"], ""),
        ("cancel", ["How do I cancel my subscription before the renewal?"], "Okay."),
    ],
    [  # user 2
        ("refund", ["Hello, {name} here, writing from {city}. How do I get my money back for a double charge?"],
         "I expected more."),
        ("change_plan", ["I'm on the {plan} plan and want to upgrade. How?"], ""),
        ("password_reset", ["I'm locked out of my account again, password reset please."], "Sigh."),
        ("crash", ["{product} freezes when I upload a photo. Is this a bug?",
                   "I already restarted my phone twice."], ""),
        ("export", ["Where do I download my data? I prefer {contact} for any follow-up."], ""),
        ("shipping", ["My delivery is a week late, where is my package?"], "Getting there."),
        ("two_factor", ["My 2FA verification code is always rejected."], ""),
        ("refund", ["Can I get a refund for last month? I didn't use the service."], "Fine."),
    ],
    [  # user 3
        ("crash", ["Hey, it's {name} in {city}. After the update the app won't open."], "Frustrating."),
        ("payment_method", ["I need to update my billing details, the card on file is expired."], ""),
        ("cancel", ["Please help me unsubscribe, I can't find the button."], "Not great."),
        ("change_plan", ["I'm on {plan}. Can I downgrade to a cheaper plan mid-month?"], ""),
        ("shipping", ["The tracking number for my order doesn't work.",
                      "I ordered it from {product}, if that matters."], ""),
        ("password_reset", ["The password reset email never arrived."], "Quicker this time."),
        ("export", ["How can I export my data to CSV?"], ""),
        ("two_factor", ["I got a new phone, how do I move my authenticator? Contact me by {contact}."], ""),
    ],
    [  # user 4
        ("two_factor", ["Hi, I'm {name} from {city}. I can't find where to enable 2FA."], ""),
        ("refund", ["I was charged twice and want my money back. I'm on the {plan} plan."],
         "This is the second time this happened."),
        ("crash", ["The app crashes when I open settings in {product}."], ""),
        ("shipping", ["Where is my package? The delivery date passed yesterday."], "Please hurry."),
        ("payment_method", ["How do I change the card you charge? I prefer {contact} for receipts."], ""),
        ("cancel", ["I want to stop my subscription before the next charge."], ""),
        ("export", ["I need to download my data for my accountant."], "Useful enough."),
        ("password_reset", ["I forgot my password once more, sorry!"], ""),
    ],
    [  # user 5
        ("shipping", ["Hello from {city}, this is {name}. My order says shipped but no tracking updates."],
         "I had to ask twice."),
        ("password_reset", ["Can't log in, I think I forgot my password."], ""),
        ("change_plan", ["I use {product} on the {plan} plan. How do I switch plan to the yearly one?"], ""),
        ("refund", ["I'd like a refund, I was billed after cancelling."], "Not happy."),
        ("crash", ["The app freezes whenever I scroll the inbox.",
                   "Reach me by {contact} if you need logs."], ""),
        ("export", ["How do I back up my account? Is there a CSV export?"], ""),
        ("cancel", ["How do I cancel? The button is greyed out."], "Hmm."),
        ("two_factor", ["My authenticator codes stopped working after a phone reset."], ""),
    ],
    [  # user 6
        ("export", ["Hi! {name} from {city}. Can I export my data to CSV?"], ""),
        ("two_factor", ["How do I turn on two-factor authentication for my team on {plan}?"], "So much to read."),
        ("refund", ["There's a double charge on my statement. Refund please."], ""),
        ("password_reset", ["I'm locked out, the reset link expired."], ""),
        ("payment_method", ["My card expired last week; where do I add the new one? I use {product}."], ""),
        ("crash", ["The app crashes on startup since this morning. I prefer {contact} replies."], "Much better."),
        ("shipping", ["My delivery is late, can you check the tracking?"], ""),
        ("cancel", ["How do I cancel my subscription?"], ""),
    ],
    [  # user 7
        ("cancel", ["Hello, my name is {name}, I live in {city}. How do I cancel my subscription?"],
         "I just wanted the answer."),
        ("payment_method", ["I need to update my billing details, new card."], ""),
        ("password_reset", ["I forgot my password and the reset email never arrived."], ""),
        ("export", ["Where do I download my data? I'm on the {plan} plan."], "Too much reading."),
        ("crash", ["{product} crashes when I attach a file."], ""),
        ("refund", ["I want my money back for an order I returned. Please answer by {contact}."], ""),
        ("change_plan", ["How do I downgrade my plan?"], "Clearer."),
        ("shipping", ["My package was marked delivered but it isn't here."], ""),
    ],
    [  # user 8
        ("change_plan", ["Hi, {name} here from {city}. How do I upgrade my plan to Business?"], ""),
        ("shipping", ["The tracking number for my order doesn't work."], "I'm waiting on this."),
        ("two_factor", ["My verification code is always rejected. I'm using {product}."], ""),
        ("refund", ["I was charged twice. I'm on {plan}, by the way."], ""),
        ("password_reset", ["Locked out again, password reset please. Send updates by {contact}."], "Meh."),
        ("crash", ["The app won't open after the update."], ""),
        ("payment_method", ["How do I change the card you charge?"], "Good progress."),
        ("export", ["I need a backup of everything, CSV is fine."], ""),
    ],
]


def build(world: World | None = None) -> TrajectoryDataset:
    """The dataset (deterministic)."""
    world = world or World(seed=0)
    users = world.users(len(THREADS))
    out = []
    for i, (user, threads) in enumerate(zip(users, THREADS, strict=True)):
        for k, (topic, turns, remark) in enumerate(threads):
            version = "1" if k < 5 else "2"
            prompt = PROMPTS[version]
            messages = [{"role": "system", "content": prompt}]
            scores = []
            reply = ""
            for text in turns:
                message = text.format(name=user.name, city=user.city, plan=user.plan, product=user.product,
                                      contact=user.contact)
                history = " ".join(m["content"] for m in messages[1:])
                reply = world.respond(prompt, message, history=history)
                scores.append(world.satisfaction(user, reply))
                messages += [{"role": "user", "content": message}, {"role": "assistant", "content": reply}]
            if match_topic(messages[1]["content"]).key != topic:
                raise AssertionError(f"thread {i + 1}.{k + 1} does not read as topic {topic!r}")
            score = round(sum(scores) / len(scores), 4)
            comment = world.comment(user, reply) + (f" {remark}" if remark else "")
            out.append(Trajectory(
                messages=messages,
                feedback=Feedback(score=score, label="thumbs_up" if score >= 0.5 else "thumbs_down",
                                  comment=comment, source="user"),
                prompt_name="support", prompt_version=version, user=user.id, thread=f"{user.id}-t{k + 1}",
                time=START + timedelta(days=3 * k + i // 2, hours=i % 2 * 5, minutes=7 * k),
                tags=["support", topic, f"v{version}"],
                metadata={"topic": topic, "replies": "engram.testing offline stand-in (simulated task model)"},
            ))
    return TrajectoryDataset(out, name="support")


def main() -> None:
    path = HERE / "support.jsonl"
    data = build()
    data.save(path)
    print(f"wrote {len(data)} trajectories to {path}")


if __name__ == "__main__":
    main()
