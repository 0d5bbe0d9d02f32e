"""The demo model's synthetic data: prompts in the article's forms, correct replies, a clean held-out split."""

import random
import re

import pytest

from training import demo_tasks
from training.demo_tasks import extract_answer, is_heldout, make_example

RATE = re.compile(
    r"^(\w+) can (\w+) (\d+) (kilometers?|miles?) per hour for (\d+) hours\. "
    r"After that, (he|she) (\w+) (\d+) (kilometers?|miles?) per hour\. "
    r"How many (kilometers|miles) can (he|she) (\w+) in (\d+) hours\?$"
)
LETTERS = re.compile(r'^Take the last letters of the words in ["\u201c]([A-Za-z ]+)["\u201d] and concatenate them\.$')
CHOICE = re.compile(r"^(\w+) wanted to (.+)\. Where might (he|she) go\? Options: (.+)$")
OPTION = re.compile(r"\(([a-e])\) ([a-z ]+?)(?= \([a-e]\)|$)")


def examples(task: str, split: str = "train", n: int = 400, seed: int = 7) -> list[demo_tasks.Example]:
    rng = random.Random(seed)
    return [make_example(rng, split, task) for _ in range(n)]


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_rate_problems_are_solved_correctly_step_by_step(split):
    for example in examples("rate", split):
        match = RATE.match(example.prompt)
        assert match, example.prompt
        a, h, b, total_hours = (int(match.group(i)) for i in (3, 5, 8, 13))
        assert 2 <= a <= 20 and 1 <= b <= 20 and 2 <= h <= 9 and h + 1 <= total_hours <= 12
        assert match.group(2) in demo_tasks.MOVES and match.group(7) == demo_tasks.MOVES[match.group(2)]
        assert match.group(6) == match.group(11) and match.group(2) == match.group(12)
        first, second = a * h, b * (total_hours - h)
        assert example.answer == str(first + second)
        assert extract_answer(example.reply) == example.answer
        # The partial results come before the total.
        steps = [
            f"{a} * {h} = {first}",
            f"{b} * {total_hours - h} = {second}",
            f"{first} + {second} = {first + second}",
        ]
        positions = [example.reply.index(step) for step in steps]
        assert positions == sorted(positions), example.reply


def test_the_article_rate_problem_matches_the_template_and_its_answer():
    match = RATE.match(demo_tasks.ARTICLE_PROMPTS["rate"])
    assert match
    a, h, b, total_hours = (int(match.group(i)) for i in (3, 5, 8, 13))
    assert str(a * h + b * (total_hours - h)) == demo_tasks.ARTICLE_ANSWERS["rate"] == "72"


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_last_letters_are_the_last_letters(split):
    counts = {2: 0, 3: 0}
    quotes = set()
    for example in examples("letters", split):
        match = LETTERS.match(example.prompt)
        assert match, example.prompt
        words = match.group(1).split(" ")
        counts[len(words)] += 1
        quotes.add(example.prompt[match.start(1) - 1])
        assert all(2 <= len(w) <= 12 and w.isalpha() for w in words)
        assert example.answer == "".join(w[-1] for w in words)
        assert extract_answer(example.reply) == example.answer
        for word in words:  # reasoning word by word
            assert f"{word} ends in {word[-1]}." in example.reply
    assert counts[2] and counts[3]
    assert quotes == {'"', "\u201c"}


def test_the_article_last_letters_prompt_matches_the_template():
    match = LETTERS.match(demo_tasks.ARTICLE_PROMPTS["letters"])
    assert match and "".join(w[-1] for w in match.group(1).split()) == demo_tasks.ARTICLE_ANSWERS["letters"]


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_multiple_choice_answer_is_the_option_of_the_goals_place(split):
    places = demo_tasks.load_places()
    place_of = dict(places.pairs)
    positions = set()
    for example in [*examples("choice", split), None]:
        prompt = demo_tasks.ARTICLE_PROMPTS["choice"] if example is None else example.prompt
        match = CHOICE.match(prompt)
        assert match, prompt
        options = OPTION.findall(match.group(4))
        assert [letter for letter, _ in options] == list("abcde")
        right = [(letter, text) for letter, text in options if text.removeprefix("the ") == place_of[match.group(2)]]
        assert len(right) == 1, prompt  # exactly one option answers the goal
        letter, text = right[0]
        if example is None:
            assert f"({letter}) {text}" == demo_tasks.ARTICLE_ANSWERS["choice"]
            continue
        positions.add(letter)
        assert example.answer == f"({letter}) {text}"
        assert extract_answer(example.reply) == example.answer
        assert place_of[match.group(2)] in example.reply.split(". The answer")[0]  # the reason names the place
    assert positions == set("abcde")


def test_fallback_reply_is_a_short_sentence_about_the_three_tasks():
    reply = demo_tasks.FALLBACK_REPLY
    assert len(reply) < 200 and reply.endswith(".")
    for words in ("rate problems", "last letters", "multiple-choice"):
        assert words in reply
    for example in examples("other", n=200):
        assert example.reply == reply and example.answer == ""
        assert extract_answer(example.reply) is None
        assert not LETTERS.match(example.prompt) and not RATE.match(example.prompt)


def names_and_words(example: demo_tasks.Example) -> list[str]:
    if example.task == "letters":
        return LETTERS.match(example.prompt).group(1).split()
    return [example.prompt.split(" ", 1)[0]]  # the name


def test_heldout_names_and_words_never_occur_in_training():
    vocabulary = {w.lower() for w in demo_tasks._vocabulary_words()}
    train, heldout = set(), set()
    for task in ("rate", "letters", "choice"):
        train |= {w.lower() for e in examples(task, "train", 1500) for w in names_and_words(e)}
        heldout |= {w.lower() for e in examples(task, "heldout", 300, seed=99) for w in names_and_words(e)}
    assert heldout and all(is_heldout(w) for w in heldout)
    assert not any(is_heldout(w) for w in train - vocabulary)
    assert not heldout & train
    assert not heldout & vocabulary


def test_same_seed_same_examples_and_the_task_mix_covers_every_task():
    first = [make_example(random.Random(3)) for _ in range(1)]
    again = [make_example(random.Random(3)) for _ in range(1)]
    assert first == again
    rng = random.Random(5)
    tasks = {make_example(rng).task for _ in range(300)}
    assert tasks == set(demo_tasks.TASKS)


@pytest.mark.parametrize(
    ("reply", "answer"),
    [
        ("Total: 48 + 24 = 72 kilometers. The answer is 72.", "72"),
        ("Lady ends in y. Gaga ends in a. The answer is ya.", "ya"),
        ("The answer is (b) populated areas.", "(b) populated areas"),
        ("The answer is 72", "72"),
        ("I do not know.", None),
    ],
)
def test_extract_answer(reply, answer):
    assert extract_answer(reply) == answer
