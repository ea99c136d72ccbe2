"""A Corefile reader that keeps byte offsets, so edits can splice text instead of reprinting it.

It follows CoreDNS's Caddyfile lexer and parser (coredns/caddy): tokens split on whitespace, `#`
starts a comment, a token opening with `"` runs to the next unescaped `"` (only `\\"` is an
escape), and `{` / `}` are structural only as whole tokens, so `{$ENV}`, `{env.X}` and a regex
group `{1}` are ordinary words. Where CoreDNS would guess (a server block without braces) or fail
at start-up, this reader refuses with a `CorefileError` that says what to change.
"""

from __future__ import annotations

from dataclasses import dataclass

from globaldns.errors import GlobalDnsError

DNS_PORT = 53


class CorefileError(GlobalDnsError, ValueError):
    """The Corefile cannot be read safely; carries the line and what the operator should do."""

    def __init__(self, line: int, problem: str, fix: str) -> None:
        super().__init__(f"Corefile line {line}: {problem}; {fix}")
        self.line = line
        self.problem = problem
        self.fix = fix


@dataclass(frozen=True, slots=True)
class Token:
    """One word of the Corefile; `start`/`end` index the original text, quotes included."""

    text: str
    start: int
    end: int
    line: int
    first_on_line: bool


@dataclass(frozen=True, slots=True)
class Directive:
    """A plugin line: its name, its arguments and any nested `{}` block, as tokens."""

    name: Token
    args: tuple[Token, ...]

    @property
    def end(self) -> int:
        return self.args[-1].end if self.args else self.name.end


@dataclass(frozen=True, slots=True)
class ServerKey:
    """A server block key split the way CoreDNS reads it: scheme, zone (fully qualified), port."""

    token: Token
    scheme: str
    zone: str
    port: int | None

    def serves(self, zone: str, port: int) -> bool:
        """Plain DNS for exactly this zone on this port (no port means CoreDNS's default, 53).

        A key with an environment placeholder (``{$ZONE}``) is unknowable here and serves nothing.
        """
        return (
            self.scheme == "dns"
            and "{" not in self.token.text
            and self.zone == fqdn(zone)
            and (self.port if self.port is not None else DNS_PORT) == port
        )


@dataclass(frozen=True, slots=True)
class ServerBlock:
    """A server block or snippet: `start` is its first key, `end` is just past its `}`."""

    keys: tuple[ServerKey, ...]
    directives: tuple[Directive, ...]
    start: int
    end: int

    @property
    def snippet_name(self) -> str | None:
        text = self.keys[0].token.text
        if len(self.keys) == 1 and text.startswith("(") and text.endswith(")"):
            return text[1:-1]
        return None

    def serves(self, zone: str, port: int) -> bool:
        return any(key.serves(zone, port) for key in self.keys)


@dataclass(frozen=True, slots=True)
class Corefile:
    """The parsed file: its server blocks and snippets in order, and top-level `import`s."""

    text: str
    blocks: tuple[ServerBlock, ...]
    imports: tuple[Directive, ...]

    @property
    def servers(self) -> tuple[ServerBlock, ...]:
        return tuple(block for block in self.blocks if block.snippet_name is None)

    def main_block(self) -> ServerBlock | None:
        """The first block serving the root zone: the one that answers the cluster's pods."""
        for block in self.servers:
            if any(key.scheme == "dns" and key.zone == "." for key in block.keys):
                return block
        return None

    def dns_port(self) -> int:
        """The port the root zone is served on; a block for our zone belongs on the same one."""
        main = self.main_block()
        if main is None:
            return DNS_PORT
        for key in main.keys:
            if key.zone == "." and key.port is not None:
                return key.port
        return DNS_PORT

    def blocks_serving(self, zone: str, port: int | None = None) -> tuple[ServerBlock, ...]:
        """Server blocks with a key for exactly `zone` on `port` (default: `dns_port()`)."""
        wanted = self.dns_port() if port is None else port
        return tuple(block for block in self.servers if block.serves(zone, wanted))

    def has_reload(self) -> bool:
        """Whether the main block loads `reload`, directly or through a snippet it imports.

        Imported files (``import custom/*.override``) are not visible here and count as absent.
        """
        main = self.main_block()
        return main is not None and "reload" in self._directive_names(main, frozenset())

    def imports_custom_servers(self) -> bool:
        """Whether the file imports `coredns-custom`'s `*.server` keys at the top level, as
        AKS (`import custom/*.server`) and k3s (`import /etc/coredns/custom/*.server`) do."""
        return any(
            directive.args and directive.args[0].text.endswith("custom/*.server")
            for directive in self.imports
        )

    def _directive_names(self, block: ServerBlock, seen: frozenset[str]) -> set[str]:
        snippets = {block.snippet_name: block for block in self.blocks if block.snippet_name}
        names: set[str] = set()
        for directive in block.directives:
            names.add(directive.name.text)
            if directive.name.text == "import" and directive.args:
                target = directive.args[0].text
                if target in snippets and target not in seen:
                    names |= self._directive_names(snippets[target], seen | {target})
        return names


def fqdn(zone: str) -> str:
    """Lower-case, fully qualified form of a zone name (``global`` -> ``global.``)."""
    zone = zone.lower()
    return zone if zone.endswith(".") else zone + "."


def parse_key(token: Token) -> ServerKey:
    """Split a key as CoreDNS does: ``dns://global.:53`` -> ("dns", "global.", 53)."""
    text = token.text.rstrip(",")
    scheme = "dns"
    if "://" in text:
        scheme, text = text.split("://", 1)
        scheme = scheme.lower()
    host, port = text, None
    if text.startswith("[") and "]" in text:
        host, _, rest = text[1:].partition("]")
        port = _port(rest.removeprefix(":")) if rest.startswith(":") else None
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = _port(port_text)
    return ServerKey(token=token, scheme=scheme, zone=fqdn(host or "."), port=port)


def _port(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def tokenize(text: str) -> list[Token]:
    """Split the text into tokens with their offsets, as CoreDNS's lexer would."""
    tokens: list[Token] = []
    i, n, line, last_line = 0, len(text), 1, 0
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
            i += 1
        elif ch.isspace():
            i += 1
        elif ch == "#":
            while i < n and text[i] != "\n":
                i += 1
        else:
            start, start_line = i, line
            if ch == '"':
                value, i, line = _quoted(text, i, line)
            else:
                while i < n and not text[i].isspace() and text[i] != "#":
                    i += 1
                value = text[start:i]
            tokens.append(Token(value, start, i, start_line, start_line > last_line))
            last_line = line
    return tokens


def _quoted(text: str, i: int, line: int) -> tuple[str, int, int]:
    """Read a quoted token starting at `text[i] == '"'`; returns value, next offset and line."""
    start_line, parts, i = line, [], i + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and text.startswith('"', i + 1):
            parts.append('"')
            i += 2
            continue
        if ch == '"':
            return "".join(parts), i + 1, line
        if ch == "\n":
            line += 1
        parts.append(ch)
        i += 1
    raise CorefileError(
        start_line,
        "a quoted string is never closed",
        'add the closing `"` (write `\\"` for a quote)',
    )


def parse(text: str) -> Corefile:
    """Parse a Corefile, or raise `CorefileError` saying where and what to fix."""
    return _Parser(text).corefile()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    def corefile(self) -> Corefile:
        blocks: list[ServerBlock] = []
        imports: list[Directive] = []
        while self.i < len(self.tokens):
            if self.tokens[self.i].text == "import":
                imports.append(self._directive())
            else:
                blocks.append(self._server_block())
        return Corefile(self.text, tuple(blocks), tuple(imports))

    def _server_block(self) -> ServerBlock:
        keys: list[Token] = []
        first = self.tokens[self.i]
        while True:
            token = self._take(first, "the server block's keys are not followed by `{`")
            if token.text == "}":
                raise CorefileError(
                    token.line, "`}` closes nothing", "remove it or add the `{` it should close"
                )
            if token.text == "{":
                if not keys:
                    raise CorefileError(
                        token.line, "a block has no zone before its `{`", "write e.g. `.:53 {`"
                    )
                if keys[-1].text.endswith(","):
                    raise CorefileError(
                        token.line, "a key ends with `,` but no key follows", "remove the comma"
                    )
                break
            if keys and token.first_on_line and not keys[-1].text.endswith(","):
                raise CorefileError(
                    first.line,
                    f"server block `{' '.join(k.text for k in keys)}` has no braces",
                    "wrap its plugins in `{` ... `}` so the block has a visible end",
                )
            keys.append(token)
        directives = self._directives(first)
        return ServerBlock(
            keys=tuple(parse_key(key) for key in keys),
            directives=tuple(directives),
            start=first.start,
            end=self.tokens[self.i - 1].end,
        )

    def _directives(self, opener: Token) -> list[Directive]:
        """Directives up to and including the `}` that closes the block opened at `opener`."""
        directives: list[Directive] = []
        while True:
            token = self._peek(opener)
            if token.text == "}":
                self.i += 1
                return directives
            if token.text == "{":
                raise CorefileError(
                    token.line, "`{` opens a block for no plugin", "put it after the plugin's name"
                )
            directives.append(self._directive())

    def _directive(self) -> Directive:
        name = self.tokens[self.i]
        self.i += 1
        args: list[Token] = []
        openers: list[Token] = []
        while self.i < len(self.tokens):
            token = self.tokens[self.i]
            if not openers and token.first_on_line:
                break
            if token.text == "{":
                openers.append(token)
            elif token.text == "}":
                if not openers:
                    raise CorefileError(
                        token.line,
                        f"`}}` on the same line as plugin `{name.text}`",
                        "put the closing `}` on a line of its own",
                    )
                openers.pop()
            args.append(token)
            self.i += 1
        if openers:
            self._unclosed(openers[-1])
        return Directive(name, tuple(args))

    def _take(self, opener: Token, problem: str) -> Token:
        if self.i >= len(self.tokens):
            raise CorefileError(opener.line, problem, "add `{` after the keys and `}` at the end")
        self.i += 1
        return self.tokens[self.i - 1]

    def _peek(self, opener: Token) -> Token:
        if self.i >= len(self.tokens):
            self._unclosed(opener)
        return self.tokens[self.i]

    @staticmethod
    def _unclosed(opener: Token) -> None:
        raise CorefileError(
            opener.line,
            f"the block opened by `{opener.text}` is never closed",
            "add the missing `}` (braces must balance)",
        )
