"""The phrase syntax of the language files, compiled to spaCy token patterns.

A phrase is words separated by spaces, with groups of alternatives:
"(can't|cannot) (breathe|get (my |his |)breath)". A group whose options are
single words becomes one token `{"LOWER": {"IN": [...]}}`, with `"OP": "?"`
when one option is empty; a group with longer options gives one pattern per
option. A group glued to letters ("bleed(ing|)", "move(s|)") is spelled out
into whole words first. So a line of the data file is a handful of token
patterns, not every phrase it can spell.

In the answer cues, a "~" word stands for up to a few words in between ("it ~
helps": "it really does help"). `spell_out` gives every phrase a line can
spell: for NegEx's termsets, which take phrases.
"""
from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Union

GAP = "~"
Token = dict
Pattern = list[Token]
Tokenize = Callable[[str], list[str]]


@dataclass(frozen=True)
class _Group:
    options: tuple[tuple[_Item, ...], ...]


_Item = Union[str, _Group]


class PatternSyntaxError(ValueError):
    pass


def _parse(phrase: str, pos: int = 0, depth: int = 0) -> tuple[list[list[_Item]], int]:
    """Options (lists of items) from `pos` up to the closing bracket of this depth."""
    options: list[list[_Item]] = [[]]
    text = ""
    while pos < len(phrase):
        char = phrase[pos]
        if char == "(":
            if text:
                options[-1].append(text)
                text = ""
            inner, pos = _parse(phrase, pos + 1, depth + 1)
            options[-1].append(_Group(tuple(tuple(o) for o in inner)))
            continue
        if char == ")":
            if depth == 0:
                raise PatternSyntaxError(f"unmatched ')' in {phrase!r}")
            if text:
                options[-1].append(text)
            return options, pos + 1
        if char == "|" and depth > 0:
            if text:
                options[-1].append(text)
                text = ""
            options.append([])
        else:
            text += char
        pos += 1
    if depth:
        raise PatternSyntaxError(f"unclosed '(' in {phrase!r}")
    if text:
        options[-1].append(text)
    return options, pos


def parse(phrase: str) -> tuple[_Item, ...]:
    if "|" in phrase.replace("(", "").replace(")", "") and "(" not in phrase:
        raise PatternSyntaxError(f"'|' outside a group in {phrase!r}")
    options, _ = _parse(phrase)
    return tuple(options[0])


def _spell(items: tuple[_Item, ...]) -> list[str]:
    out = [""]
    for item in items:
        if isinstance(item, str):
            out = [o + item for o in out]
        else:
            out = [o + s for o in out for option in item.options for s in _spell(option)]
    return out


def spell_out(phrase: str) -> list[str]:
    """Every phrase a line spells, spaces tidied: "(a|b) c" -> ["a c", "b c"]."""
    return sorted({re.sub(r"\s+", " ", s).strip() for s in _spell(parse(phrase))} - {""})


def _edge(item: _Item, first: bool) -> set[str]:
    """The characters a group can put at its start (first) or end: "" when it can be empty."""
    if isinstance(item, str):
        return {item[0] if first else item[-1]} if item else {""}
    edges: set[str] = set()
    for option in item.options:
        spelled = _spell(option)
        edges |= {(s[0] if first else s[-1]) if s else "" for s in spelled}
    return edges


def _glued(items: tuple[_Item, ...], i: int) -> bool:
    """Whether group i can join a word without a space between them."""
    def letter(chars: set[str]) -> bool:
        return any(c and not c.isspace() for c in chars)

    before = _edge(items[i - 1], first=False) if i > 0 else {" "}
    after = _edge(items[i + 1], first=True) if i + 1 < len(items) else {" "}
    starts, ends = _edge(items[i], first=True), _edge(items[i], first=False)
    return (letter(before) and letter(starts)) or (letter(ends) and letter(after)) or (
        "" in starts and letter(before) and letter(after))


def _unglue(items: tuple[_Item, ...]) -> list[tuple[_Item, ...]]:
    """Spell out glued groups into plain text, so every group left stands between spaces."""
    for i, item in enumerate(items):
        if isinstance(item, _Group) and _glued(items, i):
            out = []
            for option in item.options:
                for spelled in _spell(option):
                    out += _unglue(_merge_text(items[:i] + (spelled,) + items[i + 1:]))
            return out
    return [items]


def _merge_text(items: tuple[_Item, ...]) -> tuple[_Item, ...]:
    merged: list[_Item] = []
    for item in items:
        if isinstance(item, str) and merged and isinstance(merged[-1], str):
            merged[-1] = merged[-1] + item
        elif item != "":
            merged.append(item)
    return tuple(merged)


def _text_tokens(text: str, tokenize: Tokenize, gap: Pattern) -> Pattern:
    tokens: Pattern = []
    for word in text.split():
        tokens += [dict(t) for t in gap] if word == GAP else [{"LOWER": t} for t in tokenize(word)]
    return tokens


def _words(items: tuple[_Item, ...], tokenize: Tokenize, gap: Pattern) -> list[Pattern]:
    """Token patterns for items whose groups all stand between spaces."""
    patterns: list[Pattern] = [[]]
    for item in items:
        if isinstance(item, str):
            tokens = _text_tokens(item, tokenize, gap)
            patterns = [p + tokens for p in patterns]
            continue
        alternatives = [alt for option in item.options
                        for flat in _unglue(_merge_text(option))
                        for alt in _words(flat, tokenize, gap)]
        single = [a[0]["LOWER"] for a in alternatives if len(a) == 1 and set(a[0]) == {"LOWER"}]
        empty = any(not a for a in alternatives)
        if len(single) + empty == len(alternatives):
            words = sorted({w for s in single for w in ([s] if isinstance(s, str) else s["IN"])})
            token: Token = {"LOWER": words[0] if len(words) == 1 else {"IN": words}}
            if empty:
                token["OP"] = "?"
            patterns = [p + [token] for p in patterns]
        else:
            patterns = [p + alt for p in patterns for alt in alternatives]
    return patterns


def gap_tokens(words: int, clause_breakers) -> Pattern:
    """Up to `words` words that do not end the clause."""
    return [{"LOWER": {"NOT_IN": list(clause_breakers)}, "OP": "?"}] * words


def compile_phrase(phrase: str, tokenize: Tokenize, gap: Sequence[Token] = ()) -> list[Pattern]:
    """Token patterns that match exactly the phrases `phrase` spells; a "~" word
    becomes the `gap` tokens."""
    patterns = []
    for flat in _unglue(_merge_text(parse(phrase))):
        patterns += [p for p in _words(flat, tokenize, list(gap)) if p]
    unique = {repr(p): p for p in patterns}
    return list(unique.values())


def pattern_words(pattern: Pattern) -> set[str]:
    words: set[str] = set()
    for token in pattern:
        lower = token.get("LOWER")
        if isinstance(lower, str):
            words.add(lower)
        elif isinstance(lower, dict):
            words.update(lower.get("IN", []))
    return words




def _token_key(token: Token) -> tuple:
    """(mergeable, words or the token itself, OP): only plain word tokens merge."""
    lower = token.get("LOWER")
    if isinstance(lower, str) and set(token) <= {"LOWER", "OP"}:
        return True, frozenset([lower]), token.get("OP")
    if isinstance(lower, dict) and set(lower) == {"IN"} and set(token) <= {"LOWER", "OP"}:
        return True, frozenset(lower["IN"]), token.get("OP")
    return False, json.dumps(token, sort_keys=True), token.get("OP")


def _token(key: tuple) -> Token:
    mergeable, words, op = key
    if not mergeable:
        return json.loads(words)
    token: Token = {"LOWER": next(iter(words)) if len(words) == 1 else {"IN": sorted(words)}}
    if op:
        token["OP"] = op
    return token


def merge_patterns(patterns: list[Pattern]) -> list[Pattern]:
    """Fewer, wider patterns that match the same token sequences: two patterns that
    differ at one position only become one with both words there ("pain in my chest",
    "pains in my chest" -> "(pain|pains) in my chest"). spaCy's Matcher costs grow with
    the number of patterns, not with the words in an IN list."""
    keyed = {tuple(_token_key(t) for t in p) for p in patterns}
    changed = True
    while changed:
        changed = False
        for position in range(max((len(k) for k in keyed), default=0)):
            groups: dict[tuple, list[tuple]] = {}
            for key in keyed:
                if len(key) <= position or not key[position][0]:
                    groups.setdefault(("keep", key), []).append(key)
                    continue
                groups.setdefault((key[:position], key[position][2], key[position + 1:]),
                                  []).append(key)
            merged = set()
            for group, keys in groups.items():
                if group[0] == "keep" or len(keys) == 1:
                    merged.update(keys)
                    continue
                words = frozenset().union(*(k[position][1] for k in keys))
                merged.add(group[0] + ((True, words, group[1]),) + group[2])
                changed = True
            keyed = merged
    return [[_token(k) for k in key] for key in sorted(keyed, key=repr)]


def as_phrases(pattern: Pattern, limit: int) -> list[str] | None:
    """The phrases a plain-word pattern matches, if there are at most `limit`: spaCy's
    PhraseMatcher finds those faster than its Matcher runs the pattern."""
    options: list[list[str]] = []
    count = 1
    for token in pattern:
        mergeable, words, op = _token_key(token)
        if not mergeable:
            return None
        choices = sorted(words) + ([""] if op == "?" else [])
        count *= len(choices)
        if count > limit or op not in (None, "?"):
            return None
        options.append(choices)
    phrases = [" ".join(w for w in combo if w) for combo in itertools.product(*options)]
    return [p for p in dict.fromkeys(phrases) if p]
