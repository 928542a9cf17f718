"""URL masking and the word-level edit distance used by transsuasion pairs."""

import pytest

from ava.build_dataset.text import mask_urls, word_levenshtein


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
