"""The spaCy side of wellled: an offline English pipeline with framework terms.

``spacy.blank("en")`` plus the sentencizer, the lookup lemmatizer (tables from
``spacy-lookups-data``) and a rule component, ``wellled_framework_terms_v1``,
built from ``framework/vocabulary.yaml``: it finds the phrases and acronyms
trust papers use for framework ideas (BAF, Freedom to Speak Up Guardian,
WRES, net zero ...), normalises them to a term id and records which areas and
key-evidence items each one signals.

No trained spaCy pipeline is needed or downloaded.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Iterator

import spacy
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span

from pipeline.framework import Library, load_library

__all__ = ["TermMatch", "Analysis", "make_nlp", "get_nlp", "analyse", "analyse_texts", "NUM_TOKEN"]

logger = logging.getLogger(__name__)

NUM_TOKEN = "<num>"
_TERM_COMPONENT = "wellled_framework_terms"

if not Doc.has_extension("framework_terms"):
    Doc.set_extension("framework_terms", default=None)


@dataclass(frozen=True, slots=True)
class TermMatch:
    """A vocabulary term found in a text."""

    term_id: str
    text: str
    start_char: int
    end_char: int


@dataclass(frozen=True, slots=True)
class Analysis:
    """What the language pipeline makes of one text, ready for the vectorisers.

    Attributes:
        lemmas: lower-cased lemmas of the word tokens, numbers as ``<num>``,
            joined by spaces.
        terms: vocabulary term ids found, in order of appearance (repeats kept).
        matches: the matched spans, for explanations.
    """

    lemmas: str
    terms: tuple[str, ...]
    matches: tuple[TermMatch, ...]


class LowerLemmaNorm:
    """spaCy component: set each token's NORM to the lemma of its lower-cased text.

    The lookup table is case-sensitive ("Networks" has no entry, "networks"
    does), so matching and features use the lemma of the lower-cased form.
    """

    def __init__(self, nlp: Language) -> None:
        self.nlp = nlp
        self._table = None

    def _lookup(self):
        if self._table is None:
            self._table = self.nlp.get_pipe("lemmatizer").lookups.get_table("lemma_lookup")
        return self._table

    def __call__(self, doc: Doc) -> Doc:
        table = self._lookup()
        for tok in doc:
            low = tok.lower_
            tok.norm_ = table.get(low, low)
        return doc


@Language.factory("wellled_lower_lemma_v1", assigns=["token.norm"], requires=["token.lemma"])
def make_lower_lemma(nlp: Language, name: str) -> LowerLemmaNorm:
    """Factory for :class:`LowerLemmaNorm` (registered name ``wellled_lower_lemma_v1``)."""
    return LowerLemmaNorm(nlp)


class FrameworkTermMatcher:
    """spaCy component that marks framework vocabulary in a Doc.

    Phrases match on the lower-cased lemma (token NORM, set by
    ``wellled_lower_lemma_v1``), so "Boards Assurance Frameworks" and "board
    assurance framework" both match; acronyms match case-sensitively on the
    token text (plural "s" allowed). Overlapping matches keep the longest.
    Writes ``doc._.framework_terms`` as a list of ``(term_id, Span)``.
    """

    def __init__(self, nlp: Language, library: Library) -> None:
        self.norm_matcher = PhraseMatcher(nlp.vocab, attr="NORM")
        self.orth_matcher = PhraseMatcher(nlp.vocab, attr="ORTH")
        pattern_nlp = spacy.blank("en")
        pattern_nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
        pattern_nlp.add_pipe("wellled_lower_lemma_v1")
        pattern_nlp.initialize()
        self.term_ids: list[str] = []
        for term in library.vocabulary:
            self.term_ids.append(term.id)
            phrases = sorted({p.strip().lower() for p in term.phrases if p.strip()})
            if phrases:
                self.norm_matcher.add(term.id, list(pattern_nlp.pipe(phrases)))
            patterns = []
            for acronym in sorted({a.strip() for a in term.acronyms if a.strip()}):
                patterns.append(pattern_nlp.make_doc(acronym))
                if not acronym.endswith("s"):
                    patterns.append(pattern_nlp.make_doc(acronym + "s"))  # NEDs, ICBs
            if patterns:
                self.orth_matcher.add(term.id, patterns)

    def __call__(self, doc: Doc) -> Doc:
        found = list(self.orth_matcher(doc)) + list(self.norm_matcher(doc))
        spans = [Span(doc, start, end, label=match_id) for match_id, start, end in found]
        kept = spacy.util.filter_spans(spans)
        doc._.framework_terms = [(span.label_, span) for span in sorted(kept, key=lambda s: s.start)]
        return doc


@Language.factory(
    "wellled_framework_terms_v1",
    assigns=["doc._.framework_terms"],
    requires=["token.norm"],
    default_config={"framework_dir": None},
)
def make_framework_terms(nlp: Language, name: str, framework_dir: str | None) -> FrameworkTermMatcher:
    """Factory for :class:`FrameworkTermMatcher` (registered name ``wellled_framework_terms_v1``)."""
    return FrameworkTermMatcher(nlp, load_library(framework_dir))


def make_nlp(framework_dir: str | None = None, *, sentences: bool = False) -> Language:
    """Build the offline English pipeline.

    Args:
        framework_dir: folder of framework files (default: the repo's
            ``framework/``).
        sentences: add the sentencizer (the classifier does not need it).

    Returns:
        A ``spacy.blank("en")`` pipeline with the lookup lemmatizer and the
        framework-term component.
    """
    nlp = spacy.blank("en")
    if sentences:
        nlp.add_pipe("sentencizer")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.add_pipe("wellled_lower_lemma_v1")
    nlp.add_pipe("wellled_framework_terms_v1", name=_TERM_COMPONENT, config={"framework_dir": framework_dir})
    nlp.initialize()
    return nlp


@lru_cache(maxsize=4)
def get_nlp(framework_dir: str | None = None) -> Language:
    """A cached :func:`make_nlp` pipeline (one per framework folder)."""
    return make_nlp(framework_dir)


_SPACE = re.compile(r"\s+")
_POSSESSIVES = {"'s", "’s", "'", "’"}


def _doc_to_analysis(doc: Doc) -> Analysis:
    lemmas: list[str] = []
    for tok in doc:
        if tok.is_space or tok.is_punct:
            continue
        if tok.lower_ in _POSSESSIVES:
            continue
        if tok.like_num and any(ch.isdigit() for ch in tok.text):
            lemmas.append(NUM_TOKEN)
            continue
        lemmas.append(tok.norm_)
    matches = tuple(
        TermMatch(term_id, span.text, span.start_char, span.end_char) for term_id, span in (doc._.framework_terms or [])
    )
    return Analysis(" ".join(lemmas), tuple(m.term_id for m in matches), matches)


def analyse(text: str, framework_dir: str | None = None) -> Analysis:
    """Analyse one text (see :func:`analyse_texts` for batches)."""
    return next(analyse_texts([text], framework_dir))


def analyse_texts(
    texts: Iterable[str], framework_dir: str | None = None, *, batch_size: int = 256
) -> Iterator[Analysis]:
    """Run the pipeline over many texts with ``nlp.pipe``, lazily, in order."""
    nlp = get_nlp(framework_dir)
    cleaned = (_SPACE.sub(" ", t or "").strip() for t in texts)
    for doc in nlp.pipe(cleaned, batch_size=batch_size):
        yield _doc_to_analysis(doc)
