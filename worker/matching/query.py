"""Boolean interest queries: `(hallucination OR "language prior") AND NOT survey`.

Grammar (operators are case-insensitive; quote a phrase to search for the word `and` itself):

    query   := or
    or      := and ("OR" and)*
    and     := unary (["AND"] unary)*       adjacent terms without an operator are ANDed
    unary   := ("NOT" | "-") unary | primary
    primary := "(" query ")" | "quoted phrase" | word

A bare word may contain hyphens (`vision-language`): it matches as the phrase of its words, like
every multi-word term. NOT binds tightest, then AND, then OR, so `a OR b AND NOT c` means
`a OR (b AND (NOT c))`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Set
from dataclasses import dataclass

from worker.errors import QuerySyntaxError
from worker.matching.text import term_stems

_OPERATORS = {"and": "AND", "or": "OR", "not": "NOT"}
_SPECIAL = '()"'


@dataclass(frozen=True)
class Term:
    text: str  # as the user wrote it, without quotes
    quoted: bool
    position: int

    def __str__(self) -> str:
        return f'"{self.text}"' if self.quoted or " " in self.text else self.text


@dataclass(frozen=True)
class Not:
    child: Node

    def __str__(self) -> str:
        return f"NOT {_wrap(self.child)}"


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]

    def __str__(self) -> str:
        return " AND ".join(_wrap(c) for c in self.children)


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]

    def __str__(self) -> str:
        return " OR ".join(_wrap(c) for c in self.children)


Node = Term | Not | And | Or


def _wrap(node: Node) -> str:
    return f"({node})" if isinstance(node, And | Or) else str(node)


@dataclass(frozen=True)
class Query:
    text: str
    root: Node

    def __str__(self) -> str:
        return str(self.root)

    def terms(self) -> Iterator[tuple[Term, bool]]:
        """Every term with whether it counts for the paper (False under an odd number of NOTs)."""
        yield from walk(self.root, True)

    @property
    def positive_terms(self) -> tuple[Term, ...]:
        seen: dict[str, Term] = {}
        for term, positive in self.terms():
            if positive:
                seen.setdefault(term.text.casefold(), term)
        return tuple(seen.values())

    def matches(self, has: Callable[[Term], bool]) -> bool:
        """Whether a paper satisfies the query, given which terms it contains."""
        return _eval(self.root, has)

    def select(self, docs: Callable[[Term], Set[int]], universe: Set[int]) -> Set[int]:
        """The documents satisfying the query, from each term's set of documents (set algebra
        over an inverted index: one pass per term, not per paper)."""
        return _select(self.root, docs, universe)


def walk(node: Node, positive: bool) -> Iterator[tuple[Term, bool]]:
    if isinstance(node, Term):
        yield node, positive
    elif isinstance(node, Not):
        yield from walk(node.child, not positive)
    else:
        for child in node.children:
            yield from walk(child, positive)


def _eval(node: Node, has: Callable[[Term], bool]) -> bool:
    if isinstance(node, Term):
        return has(node)
    if isinstance(node, Not):
        return not _eval(node.child, has)
    if isinstance(node, And):
        return all(_eval(c, has) for c in node.children)
    return any(_eval(c, has) for c in node.children)


def _select(node: Node, docs: Callable[[Term], Set[int]], universe: Set[int]) -> Set[int]:
    if isinstance(node, Term):
        return docs(node)
    if isinstance(node, Not):
        return universe - _select(node.child, docs, universe)
    parts = [_select(c, docs, universe) for c in node.children]
    if isinstance(node, And):
        return set.intersection(*map(set, parts))
    return set.union(*map(set, parts))


# ---- lexer -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Tok:
    kind: str  # "(" ")" "AND" "OR" "NOT" "TERM" "END"
    position: int
    text: str = ""
    quoted: bool = False


def _lex(text: str) -> list[_Tok]:
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            out.append(_Tok(ch, i))
            i += 1
        elif ch == '"' or ch in "“”":
            i = _lex_phrase(text, i, out)
        elif ch == "-" and i + 1 < len(text) and text[i + 1] not in " \t\n)":
            out.append(_Tok("NOT", i))  # `-survey` is shorthand for NOT survey
            i += 1
        else:
            end = i
            while end < len(text) and not text[end].isspace() and text[end] not in _SPECIAL:
                end += 1
            word = text[i:end]
            op = _OPERATORS.get(word.casefold())
            out.append(_Tok(op, i) if op else _Tok("TERM", i, word))
            i = end
    out.append(_Tok("END", len(text)))
    return out


def _lex_phrase(text: str, start: int, out: list[_Tok]) -> int:
    closers = '"' if text[start] == '"' else "”\""
    end = start + 1
    while end < len(text) and text[end] not in closers:
        end += 1
    if end >= len(text):
        raise QuerySyntaxError("unterminated quote: add the closing \"", start)
    phrase = " ".join(text[start + 1:end].split())
    if not phrase:
        raise QuerySyntaxError("empty quoted phrase", start)
    out.append(_Tok("TERM", start, phrase, quoted=True))
    return end + 1


# ---- parser ------------------------------------------------------------------------------------

# Parentheses and NOTs nested deeper than this are refused: no interest needs it, and a
# recursive-descent parser (and every walk over the tree) must stay far from Python's limit.
MAX_NESTING = 50


class _Parser:
    def __init__(self, text: str):
        self.toks = _lex(text)
        self.i = 0
        self.depth = 0

    def nested(self, tok: _Tok) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise QuerySyntaxError(f"query nested too deeply (more than {MAX_NESTING} levels of "
                                   "parentheses and NOT)", tok.position)

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def parse(self) -> Node:
        if self.tok.kind == "END":
            raise QuerySyntaxError("query is empty", 0)
        node = self.or_()
        if self.tok.kind == ")":
            raise QuerySyntaxError("unbalanced parenthesis: ')' without a matching '('",
                                   self.tok.position)
        return node

    def or_(self) -> Node:
        parts = [self.and_()]
        while self.tok.kind == "OR":
            self.take()
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_(self) -> Node:
        parts = [self.unary()]
        while self.tok.kind in ("AND", "NOT", "TERM", "("):
            if self.tok.kind == "AND":
                self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def unary(self) -> Node:
        if self.tok.kind == "NOT":
            self.nested(self.take())
            node = Not(self.unary())
            self.depth -= 1
            return node
        return self.primary()

    def primary(self) -> Node:
        tok = self.take()
        if tok.kind == "TERM":
            if not term_stems(tok.text):
                raise QuerySyntaxError(f"term {tok.text!r} has no letters or digits", tok.position)
            return Term(tok.text, tok.quoted, tok.position)
        if tok.kind == "(":
            if self.tok.kind == ")":
                raise QuerySyntaxError("empty parentheses", tok.position)
            self.nested(tok)
            node = self.or_()
            if self.tok.kind != ")":
                raise QuerySyntaxError("unbalanced parenthesis: '(' is never closed",
                                       tok.position)
            self.take()
            self.depth -= 1
            return node
        raise self.missing_operand(tok)

    def missing_operand(self, tok: _Tok) -> QuerySyntaxError:
        before = self.toks[self.i - 2] if self.i >= 2 else None
        if before is not None and before.kind in ("AND", "OR", "NOT"):
            where = "at the end" if tok.kind == "END" else f"before {_describe(tok)}"
            return QuerySyntaxError(f"dangling operator: {before.kind} needs a term after it, "
                                    f"{where}", before.position)
        if tok.kind in ("AND", "OR"):
            return QuerySyntaxError(f"dangling operator: {tok.kind} needs a term before it",
                                    tok.position)
        if tok.kind == ")":
            return QuerySyntaxError("unbalanced parenthesis: ')' without a matching '('",
                                    tok.position)
        return QuerySyntaxError(f"expected a term, found {_describe(tok)}", tok.position)


def _describe(tok: _Tok) -> str:
    return {"END": "the end of the query", "TERM": repr(tok.text)}.get(tok.kind, repr(tok.kind))


def parse_query(text: str) -> Query:
    """Parse a boolean interest query; raise QuerySyntaxError(message, position) if malformed."""
    return Query(text, _Parser(text).parse())
