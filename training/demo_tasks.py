"""Synthetic prompts and replies for the embedded demo model: the article's three tasks and a fallback.

Pure Python (no torch): the training script, the evaluation and the tests all draw from here.
Every reply ends with `The answer is X.` except the fallback, which says what the demo can do.

Names and last-letter words are split into a training and a held-out part by a stable hash, so an
evaluation on held-out prompts only sees names and words that training never saw.
"""

from __future__ import annotations

import json
import random
import re
import zlib
from dataclasses import dataclass
from functools import cache
from typing import Literal

from llada_tui.core.checkpoint import DEMO_DIR

Split = Literal["train", "heldout"]
TASKS = ("rate", "letters", "choice", "other")
TASK_WEIGHTS = (0.4, 0.25, 0.25, 0.1)

FALLBACK_REPLY = (
    "Sorry, I am only a tiny demo model. I can solve rate problems, take the last letters of words, "
    "and answer multiple-choice questions about places."
)

# The article's three questions, word for word as the sample traces use them.
ARTICLE_PROMPTS = {
    "rate": "Lily can run 12 kilometers per hour for 4 hours. After that, she runs 6 kilometers per hour. "
    "How many kilometers can she run in 8 hours?",
    "letters": 'Take the last letters of the words in "Lady Gaga" and concatenate them.',
    "choice": "Sammy wanted to go to where the people were. Where might he go? "
    "Options: (a) race track (b) populated areas (c) the desert (d) apartment (e) roadblock",
}
ARTICLE_ANSWERS = {"rate": "72", "letters": "ya", "choice": "(b) populated areas"}

MOVES = {
    "run": "runs",
    "walk": "walks",
    "cycle": "cycles",
    "swim": "swims",
    "drive": "drives",
    "row": "rows",
    "skate": "skates",
}
UNITS = {"kilometers": "kilometer", "miles": "mile"}
OPTION_LETTERS = "abcde"
HELDOUT_BUCKETS = 8  # one name or word in eight is kept for evaluation

_ONSETS = "b bl br c ch cl d dr f fl fr g gr h j k l m n p pr r s sh sk st t th tr v w y z".split()
_VOWELS = "a e i o u a e i o ai ea ee ie oa ou y".split()
_CODAS = ["", "", "", "n", "l", "r", "s", "m", "x", "ck", "nd", "th", "rt", "st", "g", "p", "b", "d", "t"]
_NAME_ENDINGS = ["", "", "y", "a", "ie", "o", "en", "on", "ah", "ia", "el", "us", "ine", "ly"]
_LETTERS = "abcdefghijklmnopqrstuvwxyz"

_ANSWER = re.compile(r"The answer is (.+?)\.?\s*$")


@dataclass(frozen=True)
class Example:
    task: str  # one of TASKS
    prompt: str
    reply: str
    answer: str  # what the reply puts after "The answer is" ("" for the fallback)


@dataclass(frozen=True)
class Places:
    pairs: tuple[tuple[str, str], ...]  # (goal, place); the first is the article's
    distractors: tuple[str, ...]


@cache
def load_places() -> Places:
    """The goal -> place pairs shipped with the demo model (`core/demo/places.json`)."""
    text = (DEMO_DIR / "places.json").read_text(encoding="utf-8")
    data = json.loads(text)
    return Places(tuple((goal, place) for goal, place in data["pairs"]), tuple(data["distractors"]))


def is_heldout(word: str) -> bool:
    """Whether a name or word belongs to the evaluation part (a stable hash, not Python's).

    The demo's own vocabulary words (places, goals) are whole tokens that training must cover:
    never held out.
    """
    word = word.lower()
    return word not in _vocabulary_words() and zlib.crc32(word.encode()) % HELDOUT_BUCKETS == 0


def _in_split(word: str, split: Split) -> bool:
    return is_heldout(word) == (split == "heldout")


def _pseudo_word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(syllables))


def random_name(rng: random.Random, split: Split = "train") -> str:
    """A first name such as Lily or Brenton: 3 to 9 letters, capitalised, from the given split."""
    while True:
        name = _pseudo_word(rng, rng.choice((1, 1, 2, 2, 3))) + rng.choice(_NAME_ENDINGS)
        if 3 <= len(name) <= 9 and _in_split(name, split):
            return name.capitalize()


def random_word(rng: random.Random, split: Split = "train") -> str:
    """A word for the last-letters task: 2 to 12 letters, pseudo-English, random letters or a name.

    The training split also draws the demo's own vocabulary words (places, goals), which are
    whole tokens, so the model learns their last letters too.
    """
    while True:
        kind = rng.random()
        if split == "train" and kind < 0.2:
            word = rng.choice(_vocabulary_words())
            break
        if kind < 0.35:
            word = "".join(rng.choice(_LETTERS) for _ in range(rng.randint(2, 12)))
        elif kind < 0.55:
            word = random_name(rng, split)
        else:
            word = _pseudo_word(rng, rng.randint(1, 4))
        if 2 <= len(word) <= 12 and _in_split(word, split):
            break
    style = rng.random()
    if style < 0.3:
        word = word.capitalize()
    elif style < 0.35:
        word = word.upper()
    return word


@cache
def _vocabulary_words() -> tuple[str, ...]:
    places = load_places()
    texts = [goal for goal, _ in places.pairs] + [place for _, place in places.pairs] + list(places.distractors)
    return tuple(sorted({w for text in texts for w in text.split() if len(w) >= 2}))


def _count(n: int, plural: str, singular: str) -> str:
    return f"{n} {singular if n == 1 else plural}"


def rate_problem(rng: random.Random, split: Split = "train") -> Example:
    name, pronoun = random_name(rng, split), rng.choice(("he", "she"))
    move = rng.choice(list(MOVES))
    units = rng.choice(list(UNITS))
    unit = UNITS[units]
    a, h, b = rng.randint(2, 20), rng.randint(2, 9), rng.randint(1, 20)
    total_hours = rng.randint(h + 1, 12)
    rest = total_hours - h
    first, second = a * h, b * rest
    total = first + second
    prompt = (
        f"{name} can {move} {_count(a, units, unit)} per hour for {h} hours. "
        f"After that, {pronoun} {MOVES[move]} {_count(b, units, unit)} per hour. "
        f"How many {units} can {pronoun} {move} in {total_hours} hours?"
    )
    reply = (
        f"First {h} hours: {a} * {h} = {_count(first, units, unit)}. "
        f"Remaining {total_hours} - {h} = {_count(rest, 'hours', 'hour')}: "
        f"{b} * {rest} = {_count(second, units, unit)}. "
        f"Total: {first} + {second} = {_count(total, units, unit)}. The answer is {total}."
    )
    return Example("rate", prompt, reply, str(total))


def last_letters(rng: random.Random, split: Split = "train") -> Example:
    words = [random_word(rng, split) for _ in range(rng.choice((2, 3)))]
    open_quote, close_quote = rng.choice((('"', '"'), ("\u201c", "\u201d")))
    prompt = f"Take the last letters of the words in {open_quote}{' '.join(words)}{close_quote} and concatenate them."
    answer = "".join(word[-1] for word in words)
    reasoning = " ".join(f"{word} ends in {word[-1]}." for word in words)
    return Example("letters", prompt, f"{reasoning} The answer is {answer}.", answer)


def multiple_choice(rng: random.Random, split: Split = "train") -> Example:
    places = load_places()
    goal, place = rng.choice(places.pairs)
    others = [p for _, p in places.pairs if p != place] + list(places.distractors)
    options = rng.sample(others, 4)
    options.insert(rng.randrange(5), place)
    # Users write "the desert" as often as "desert"; the reply copies the option as written.
    options = [f"the {option}" if rng.random() < 0.1 else option for option in options]
    letter = OPTION_LETTERS[[o.removeprefix("the ") for o in options].index(place)]
    name, pronoun = random_name(rng, split), rng.choice(("he", "she"))
    listed = " ".join(f"({letter}) {option}" for letter, option in zip(OPTION_LETTERS, options))
    prompt = f"{name} wanted to {goal}. Where might {pronoun} go? Options: {listed}"
    answer = f"({letter}) {options[OPTION_LETTERS.index(letter)]}"
    reply = f"To {goal}, {pronoun} should go to the {place}. The answer is {answer}."
    return Example("choice", prompt, reply, answer)


_OTHER_PROMPTS = (
    "Hello!",
    "Hi",
    "Who are you?",
    "What can you do?",
    "Help",
    "Tell me a joke.",
    "What is the capital of {Place}?",
    "Write a poem about {word}.",
    "Translate {word} into French.",
    "How are you today?",
    "What is {a} plus {b}?",
    "Can you {move} {a} {units}?",
    "Explain what a {word} is.",
    "Where is the {place}?",
    "{Name} wants to {goal}.",
    "Take the letters of {word}.",
    "Why is the sky blue?",
    "Thanks!",
)


def other(rng: random.Random, split: Split = "train") -> Example:
    """A prompt outside the three tasks: a question, a greeting, word salad or random characters."""
    kind = rng.random()
    if kind < 0.5:
        places = load_places()
        goal, place = rng.choice(places.pairs)
        prompt = rng.choice(_OTHER_PROMPTS).format(
            Place=random_name(rng, split),
            Name=random_name(rng, split),
            word=random_word(rng, split),
            a=rng.randint(0, 99),
            b=rng.randint(0, 99),
            move=rng.choice(list(MOVES)),
            units=rng.choice(list(UNITS)),
            place=place,
            goal=goal,
        )
    elif kind < 0.85:
        pool = [rng.choice(_vocabulary_words()), random_word(rng, split), rng.choice(list(MOVES)), "the", "is"]
        words = [rng.choice(pool) if rng.random() < 0.5 else random_word(rng, split) for _ in range(rng.randint(1, 12))]
        prompt = " ".join(words) + rng.choice(("", ".", "?", "!"))
    else:
        alphabet = _LETTERS + _LETTERS.upper() + "0123456789 .,;:!?()-+*/=#@'\"\u00e9\u00fc\u4f60\u597d\U0001f600"
        prompt = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24)))
    return Example("other", prompt, FALLBACK_REPLY, "")


_MAKERS = {"rate": rate_problem, "letters": last_letters, "choice": multiple_choice, "other": other}


def make_example(rng: random.Random, split: Split = "train", task: str | None = None) -> Example:
    """One example of `task`, or of a task drawn with TASK_WEIGHTS when None."""
    if task is None:
        task = rng.choices(TASKS, weights=TASK_WEIGHTS)[0]
    return _MAKERS[task](rng, split)


def extract_answer(reply: str) -> str | None:
    """What a reply states after "The answer is", without the final period; None if it states nothing."""
    match = _ANSWER.search(reply.strip())
    return match.group(1).strip() if match else None
