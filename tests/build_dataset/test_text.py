"""URL masking and the word-level edit distance used by transsuasion pairs."""

import random

import pytest

from ava.build_dataset.text import mask_urls, word_levenshtein
from tests.build_dataset.helpers import reference_levenshtein


@pytest.mark.parametrize(
    "text, masked, n",
    [
        ("Shop now at https://shop.example.com/sale?x=1.", "Shop now at [URL].", 1),
        ("Visit www.vote.org, or call", "Visit [URL], or call", 1),
        ("see acme.com/deals and http://a.b/c)", "see [URL] and [URL])", 2),
        ("Donate at ActBlue.com today!", "Donate at [URL] today!", 1),
        ("No links here, e.g. 3.5 stars", "No links here, e.g. 3.5 stars", 0),
    ],
)
def test_mask_urls(text, masked, n):
    assert mask_urls(text) == (masked, n)


def test_word_levenshtein_hand_cases():
    assert word_levenshtein("", "") == 0
    assert word_levenshtein("a b c", "a b c") == 0
    assert word_levenshtein("the cat sat", "the dog sat") == 1  # substitute
    assert word_levenshtein("the cat sat", "the cat sat down") == 1  # insert
    assert word_levenshtein("A B C D", "b c d e") == 2  # case-insensitive: delete a, insert e
    assert word_levenshtein("one two three", "") == 3


@pytest.mark.parametrize("text, masked", [
    ("Lees meer op example.eu vandaag", "Lees meer op [URL] vandaag"),
    ("Bestel via site.nl/actie.", "Bestel via [URL]."),
    ("Kijk op De-Winkel.be of shop.de", "Kijk op [URL] of [URL]"),
    ("Shop now.It is here, U.S. made", "Shop now.It is here, U.S. made"),  # capitalised: a sentence
])
def test_bare_domains_are_masked(text, masked):
    assert mask_urls(text)[0] == masked


def test_word_levenshtein_hand_computed():
    assert word_levenshtein("", "") == 0
    assert word_levenshtein("vote now", "") == 2  # two deletions
    assert word_levenshtein("vote for change now", "vote now for change") == 2  # "now" moved: delete + insert
    assert word_levenshtein("buy our shoes today", "buy your shoes today") == 1  # one substitution
    assert word_levenshtein("a b c d", "d c b a") == 4  # reversed: no alignment is shorter than 4 edits


def test_word_levenshtein_matches_the_reference_and_stops_at_the_cutoff():
    rng = random.Random(0)
    for _ in range(200):
        a = [rng.choice("abcdef") for _ in range(rng.randrange(0, 40))]
        b = [rng.choice("abcdef") for _ in range(rng.randrange(0, 40))]
        d = reference_levenshtein(a, b)
        assert word_levenshtein(" ".join(a), " ".join(b)) == d
        assert word_levenshtein(" ".join(a), " ".join(b), cutoff=15) == min(d, 16)
    # two long real-sized ads (8,348 and 5,497 words): the thresholded distance only says "more than 15"
    long_a = " ".join(rng.choice(["vote", "now", "for", "change"]) for _ in range(8348))
    long_b = " ".join(rng.choice(["vote", "now", "for", "change"]) for _ in range(5497))
    assert word_levenshtein(long_a, long_b, cutoff=15) == 16
