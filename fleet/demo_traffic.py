"""The demo's traffic: a seeded mix of chat requests like a team's apps would send.

Short everyday questions, mid-sized writing tasks, hard reasoning and coding problems, two apps
whose requests share a long system prompt (so prefix caching has something to find), and
multi-turn conversations that grow. About a third stream.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

SIMPLE = [
    "What is the capital of Australia?",
    "Translate 'good morning' into Spanish.",
    "Give me a synonym for 'happy'.",
    "How many days are there in a leap year?",
    "What colour do you get by mixing blue and yellow?",
    "Spell 'necessary' backwards.",
    "Who wrote Pride and Prejudice?",
    "What is 12 times 8?",
    "Name three fruits that are red.",
    "Is a tomato a fruit or a vegetable?",
    "What time zone is London in?",
    "Convert 5 kilometres to miles.",
]

MEDIUM = [
    "Write a polite email to a customer telling them their order will arrive two days late.",
    "Summarise the main causes of the French Revolution in five bullet points.",
    "Suggest a name and a tagline for a bakery that only sells sourdough bread.",
    "Explain the difference between a list and a tuple in Python to a beginner.",
    "Draft a short product description for noise-cancelling headphones aimed at students.",
    "Rewrite this sentence to sound more formal: 'we gotta ship the fix asap, folks are mad'.",
    "Give me a three-day itinerary for a first visit to Lisbon.",
    "Explain what a mortgage offset account is and when it makes sense.",
]

HARD = [
    "Prove that there are infinitely many primes of the form 4k+3, and explain each step.",
    "Implement an LRU cache in Python with O(1) get and put, with type hints and unit tests, and explain the "
    "invariants your implementation maintains.",
    "A bat and a ball cost $1.10 in total; the bat costs $1.00 more than the ball. Then a second purchase "
    "doubles the ball's price and halves the bat's. Work out every price and check your answer algebraically.",
    "Design a rate limiter for a distributed API gateway serving 50k requests per second across regions. "
    "Compare token bucket, sliding window log and GCRA, discuss clock skew and Redis failure modes, and "
    "recommend one with its data structures.",
    "Write a SQL query that returns, for each customer, their longest streak of consecutive days with at least "
    "one order, and explain how the gaps-and-islands technique works.",
    "Given a weighted directed graph with possibly negative edges but no negative cycles, derive an algorithm "
    "to find all-pairs shortest paths faster than Floyd-Warshall on sparse graphs, and analyse its complexity.",
    "Explain why the halting problem is undecidable, then show how Rice's theorem follows from it.",
    "Refactor this recursive Fibonacci into an iterative matrix-exponentiation version in Rust and prove its "
    "time complexity: fn fib(n: u64) -> u64 { if n < 2 { n } else { fib(n-1) + fib(n-2) } }",
    "Solve: find all real x such that sqrt(x + 3 - 4*sqrt(x - 1)) + sqrt(x + 8 - 6*sqrt(x - 1)) = 1.",
    "Write a concurrent web crawler in Go that respects robots.txt, limits per-host concurrency, deduplicates "
    "URLs and shuts down gracefully; explain the synchronisation you chose.",
]

SUPPORT_SYSTEM = (
    "You are the support assistant of Northwind Outfitters, an online retailer of outdoor equipment. "
    + " ".join(
        f"Policy {i}: customers may return unused items within {30 + i} days of delivery with the original "
        f"receipt; refunds go back to the original payment method within {3 + i % 5} business days; items "
        f"marked final sale in section {i} of the catalogue cannot be returned; escalate damaged-item claims "
        f"with photos to the warehouse team in region {i % 7}."
        for i in range(24)
    )
    + " Always answer briefly, cite the policy number you relied on, and never promise anything the policies "
    "do not allow."
)

SUPPORT_QUESTIONS = [
    "My tent arrived with a torn rain fly. What should I do?",
    "Can I return hiking boots I wore once on a trail?",
    "How long until my refund shows up on my card?",
    "I lost my receipt, can I still return a jacket?",
    "Is the clearance sleeping bag returnable?",
    "The stove I ordered is the wrong model. Can I exchange it?",
]

CODE_SYSTEM = (
    "You are a code reviewer for the payments team. House style: "
    + " ".join(
        f"Rule {i}: functions stay under {20 + i} lines; names say what a value means, not its type; every "
        f"public function has a docstring; errors are raised as PaymentError subclasses with a code from table "
        f"{i}; money is never a float; logs carry the request id and never card numbers."
        for i in range(20)
    )
    + " Review the snippet the user sends and list concrete problems with the rule numbers."
)

CODE_SNIPPETS = [
    "def charge(amount, card):\n    total = amount * 1.2\n    print('charging', card)\n    return gateway.pay(total)",
    "def refund(tx):\n    try:\n        return api.refund(tx.id)\n    except Exception:\n        return None",
    "class Invoice:\n    def calc(self):\n        return sum([float(l.price) * l.qty for l in self.lines])",
    "def get(u):\n    r = requests.get(u)\n    return r.json()['data']['amount'] / 100.0",
]

CONVERSATION_TURNS = [
    "I'm planning a vegetable garden on a small balcony. Where do I start?",
    "It gets about five hours of sun. Which vegetables would work?",
    "How often should I water tomatoes in pots during summer?",
    "Some leaves are turning yellow at the bottom. What could cause that?",
    "Thanks! Can you summarise everything as a weekly checklist?",
]


@dataclass(frozen=True)
class DemoRequest:
    kind: str
    messages: list[dict[str, Any]]
    stream: bool
    max_tokens: int


def _reply(seed: int) -> str:
    return f"(earlier answer {seed}) Here is what I suggested before, in short."


def build_traffic(n: int, seed: int = 0) -> list[DemoRequest]:
    """``n`` requests in a seeded, shuffled order."""
    rng = random.Random(seed)
    out: list[DemoRequest] = []
    kinds = ["simple"] * 30 + ["medium"] * 20 + ["hard"] * 15 + ["support"] * 15 + ["code"] * 10 + ["chat"] * 10
    for _ in range(n):
        kind = rng.choice(kinds)
        if kind == "simple":
            msgs = [{"role": "user", "content": rng.choice(SIMPLE)}]
        elif kind == "medium":
            msgs = [{"role": "user", "content": rng.choice(MEDIUM)}]
        elif kind == "hard":
            msgs = [{"role": "user", "content": rng.choice(HARD)}]
        elif kind == "support":
            msgs = [{"role": "system", "content": SUPPORT_SYSTEM},
                    {"role": "user", "content": rng.choice(SUPPORT_QUESTIONS)}]
        elif kind == "code":
            msgs = [{"role": "system", "content": CODE_SYSTEM},
                    {"role": "user", "content": "Review this:\n" + rng.choice(CODE_SNIPPETS)}]
        else:
            turns = rng.randint(1, len(CONVERSATION_TURNS))
            msgs = []
            for t in range(turns):
                msgs.append({"role": "user", "content": CONVERSATION_TURNS[t]})
                if t < turns - 1:
                    msgs.append({"role": "assistant", "content": _reply(t)})
        out.append(DemoRequest(kind, msgs, stream=rng.random() < 0.33, max_tokens=rng.choice([32, 64, 128])))
    return out


# -- tools and structured output ---------------------------------------------------------------

FORECAST_PARAMS: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1, "maximum": 7},
                   "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    "required": ["city", "days", "unit"], "additionalProperties": False}
FORECAST_TOOL: dict[str, Any] = {"type": "function", "function": {
    "name": "get_forecast", "description": "Weather forecast for a city", "parameters": FORECAST_PARAMS}}
FORECAST_QUESTION = "Will I need an umbrella in Lisbon this weekend?"
FORECAST_RESULT = "Lisbon: light rain on Saturday, sunny on Sunday, 17 to 21 celsius"
TRIP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"destination": {"type": "string"}, "nights": {"type": "integer", "minimum": 1},
                   "activities": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                   "budget_eur": {"anyOf": [{"type": "number"}, {"type": "null"}]}},
    "required": ["destination", "nights", "activities", "budget_eur"], "additionalProperties": False}


@dataclass(frozen=True)
class FeatureCheck:
    """One request of the demo's tools and structured-output round, sent to every tier."""

    name: str
    body: dict[str, Any]  # messages, tools, response_format, stream
    expect: str  # "tool_call": a call with valid arguments; "quotes_result": prose quoting the tool's
    #              result; "json": content valid for ``schema``
    schema: dict[str, Any]


def feature_checks() -> list[FeatureCheck]:
    """A tool call (plain and streamed), the tool's result sent back, and a JSON-schema answer."""
    ask = [{"role": "user", "content": FORECAST_QUESTION}]
    call = {"id": "call_demo", "type": "function",
            "function": {"name": "get_forecast", "arguments": '{"city": "Lisbon", "days": 2, "unit": "celsius"}'}}
    answered = [*ask, {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call_demo", "content": FORECAST_RESULT}]
    trip = [{"role": "user", "content": "Plan a long weekend in Porto."}]
    fmt = {"type": "json_schema", "json_schema": {"name": "trip", "schema": TRIP_SCHEMA, "strict": True}}
    return [
        FeatureCheck("tool call", {"messages": ask, "tools": [FORECAST_TOOL]}, "tool_call", FORECAST_PARAMS),
        FeatureCheck("streamed tool call", {"messages": ask, "tools": [FORECAST_TOOL], "stream": True}, "tool_call",
                     FORECAST_PARAMS),
        FeatureCheck("tool result", {"messages": answered, "tools": [FORECAST_TOOL]}, "quotes_result", {}),
        FeatureCheck("JSON schema", {"messages": trip, "response_format": fmt}, "json", TRIP_SCHEMA),
    ]
