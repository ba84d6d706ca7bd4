from __future__ import annotations

from app.streaming.agreement import LocalAgreement, common_prefix_len, normalize_word
from app.transcript import WordTiming


def words(text: str, step: int = 4000) -> list[WordTiming]:
    return [WordTiming(w, i * step, (i + 1) * step - 100, 0.9) for i, w in enumerate(text.split())]


def test_normalize_ignores_case_and_punctuation() -> None:
    assert normalize_word("Country,") == normalize_word("country")
    assert normalize_word("don't") == "don't"


def test_first_hypothesis_is_all_tentative() -> None:
    la = LocalAgreement()
    hyp = la.update(words("and so my"))
    assert hyp.stable == ()
    assert [w.text for w in hyp.tentative] == ["and", "so", "my"]


def test_words_become_stable_when_two_hypotheses_agree() -> None:
    la = LocalAgreement()
    la.update(words("and so my fellow"))
    hyp = la.update(words("And so, my fellow Americans"))
    assert [w.text for w in hyp.stable] == ["And", "so,", "my", "fellow"]
    assert [w.text for w in hyp.tentative] == ["Americans"]


def test_disagreement_keeps_stable_prefix_only() -> None:
    la = LocalAgreement()
    la.update(words("ask not what"))
    la.update(words("ask not what your"))
    hyp = la.update(words("ask not what you're country"))
    assert [w.text for w in hyp.stable] == ["ask", "not", "what"]
    assert [w.text for w in hyp.tentative] == ["you're", "country"]


def test_stable_words_never_change_even_if_model_rewrites_them() -> None:
    la = LocalAgreement()
    la.update(words("the child almost"))
    la.update(words("the child almost hurt"))
    # the model now rewrites the stable region; stable words stay, the rest is aligned by time
    hyp = la.update(words("a child almost hurt the"))
    assert [w.text for w in hyp.stable][:3] == ["the", "child", "almost"]
    assert [w.text for w in hyp.words] == ["the", "child", "almost", "hurt", "the"]


def test_growth_commits_in_order() -> None:
    la = LocalAgreement()
    text = ["we", "must", "find", "a", "new", "home", "in", "the", "stars"]
    for n in range(1, len(text) + 1):
        hyp = la.update(words(" ".join(text[:n])))
    hyp = la.update(words(" ".join(text)))
    assert [w.text for w in hyp.stable] == text


def test_common_prefix_len() -> None:
    assert common_prefix_len(words("a b c"), words("a b d")) == 2
    assert common_prefix_len([], words("a")) == 0


def test_agreed_words_heard_with_too_little_audio_after_them_wait() -> None:
    # the first words of an utterance, heard twice on 0.2 s more audio, agree on a mishearing
    # ("Like your" for "what your"): they stay tentative until the audio runs past them
    la = LocalAgreement()
    la.update(words("like your"), settled_by=0)
    hyp = la.update(words("like your"), settled_by=4000)  # "like" ends at 3900, "your" at 7900
    assert [w.text for w in hyp.stable] == ["like"]
    assert [w.text for w in hyp.tentative] == ["your"]
    # a rewrite of the held word is still possible; the stable word is not
    hyp = la.update(words("like you're country"), settled_by=6000)
    assert [w.text for w in hyp.stable] == ["like"]
    assert [w.text for w in hyp.tentative] == ["you're", "country"]
    hyp = la.update(words("like you're country can"), settled_by=20000)
    assert [w.text for w in hyp.stable] == ["like", "you're", "country"]
    assert [w.text for w in hyp.tentative] == ["can"]
