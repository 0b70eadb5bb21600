"""The shipped Asterisk configuration works as shipped.

A small reader of ``extensions.conf`` syntax (contexts, ``exten =>``, ``same =>``,
labels, ``include =>`` and ``#include``) checks that every place a call can be sent to
exists: the location Screener's example settings continue allowed calls to, every
``Goto``/``GotoIf``/``Gosub`` target, hangup and pre-dial handlers, the contexts the
PJSIP endpoints start in, and every voicemail box the dialplan uses.
"""

from __future__ import annotations

import re
import textwrap
import tomllib
from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import yaml

from screener.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "asterisk-config"
EXTENSIONS = CONFIG / "extensions.conf"
VOICEMAIL = CONFIG / "voicemail.conf"
PJSIP = CONFIG / "pjsip.conf"
EXAMPLE_SETTINGS = ROOT / "screener.example.toml"
COMPOSE = ROOT / "docker-compose.yml"
SHIPPED_DIALPLANS = [EXTENSIONS, *sorted((CONFIG / "agi").glob("*.conf"))]
DOCS = [
    ROOT / "README.md",
    CONFIG / "README.md",
    CONFIG / "agi" / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
]

# Contexts a file relies on that another system provides: FreePBX owns [from-trunk]
# (its inbound routes), and the FreePBX example sends screened calls back there.
PROVIDED_ELSEWHERE = {"freepbx-extensions_custom.conf": {"from-trunk"}}

# Dialled numbers used for ${EXTEN} when a jump leaves a pattern extension.
SAMPLE_EXTENSIONS = ("441134960000", "+441134960000", "01134960000", "100", "s")

NOT_CONTEXTS = {"general", "globals"}


# -- reading extensions.conf -------------------------------------------------------


@dataclass(frozen=True)
class Step:
    context: str
    extension: str
    priority: int
    label: str | None
    app: str
    args: str
    where: str


@dataclass
class Dialplan:
    contexts: dict[str, dict[str, list[Step]]] = field(default_factory=dict)
    includes: dict[str, list[str]] = field(default_factory=dict)
    globals: dict[str, str] = field(default_factory=dict)

    def steps(self) -> Iterator[Step]:
        for extensions in self.contexts.values():
            for steps in extensions.values():
                yield from steps

    def overlay(self, other: Dialplan) -> Dialplan:
        """This dialplan with ``other``'s contexts replacing or adding to its own."""
        return Dialplan(
            contexts={**self.contexts, **other.contexts},
            includes={**self.includes, **other.includes},
            globals={**self.globals, **other.globals},
        )


class DialplanSyntaxError(ValueError):
    pass


def _strip_comment(line: str) -> str:
    out = []
    index = 0
    while index < len(line):
        char = line[index]
        if line.startswith("\\;", index):  # an escaped semicolon is text
            out.append(";")
            index += 2
            continue
        if char == ";":
            break
        out.append(char)
        index += 1
    return "".join(out).strip()


def _clean_lines(text: str, name: str) -> Iterator[tuple[str, int, str]]:
    """(file name, line number, text) without comments, blank lines dropped."""
    text = re.sub(r";--.*?--;", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    for number, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw)
        if line:
            yield name, number, line


def _lines(path: Path, root: Path, seen: tuple[Path, ...] = ()) -> Iterator[tuple[str, str]]:
    """(file:line, text); ``#include`` is read in place, as Asterisk does."""
    if path in seen:
        raise DialplanSyntaxError(f"{path}: #include loop")
    for name, number, line in _clean_lines(path.read_text(), path.name):
        if line.startswith("#"):
            directive, _, argument = line.partition(" ")
            if directive != "#include":
                raise DialplanSyntaxError(f"{name}:{number}: {directive} is not supported")
            target = argument.strip().strip('"').strip("<>")
            yield from _lines(root / target, root, (*seen, path))
            continue
        yield f"{name}:{number}", line


def read_dialplan(path: Path, root: Path | None = None) -> Dialplan:
    """Read ``path``; ``#include`` names are relative to ``root`` (Asterisk's config dir)."""
    return parse_dialplan(_lines(path, root or path.parent))


def parse_text(text: str, name: str = "snippet") -> Dialplan:
    return parse_dialplan((f"{n}:{i}", line) for n, i, line in _clean_lines(text, name))


_HEADER = re.compile(r"\[(?P<name>[^\]]+)\](?:\((?P<options>[^)]*)\))?")
_ASSIGN = re.compile(r"(?P<key>[\w-]+)\s*=>?\s*(?P<value>.*)")
_PRIORITY = re.compile(r"(?P<number>\d+|n)(?:\((?P<label>[\w-]+)\))?")
_APP = re.compile(r"(?P<app>\w+)\s*(?:\((?P<args>.*)\))?", re.S)


def parse_dialplan(lines: Iterable[tuple[str, str]]) -> Dialplan:
    plan = Dialplan()
    context: str | None = None
    section: str | None = None
    last: tuple[str, int] | None = None  # (extension, priority) of the previous line
    for where, line in lines:
        header = _HEADER.fullmatch(line)
        if header:
            section = header["name"].strip()
            context = None if section in NOT_CONTEXTS else section
            if context is not None:
                plan.contexts.setdefault(context, {})
                plan.includes.setdefault(context, [])
            last = None
            continue
        assign = _ASSIGN.fullmatch(line)
        if assign is None:
            raise DialplanSyntaxError(f"{where}: cannot read {line!r}")
        key, value = assign["key"].lower(), assign["value"].strip()
        if section == "globals":
            plan.globals[assign["key"]] = value
            continue
        if context is None:
            continue  # [general] options
        if key == "include":
            plan.includes[context].append(value.split(",", 1)[0].strip())
            continue
        if key == "exten":
            parts = value.split(",", 2)
            if len(parts) != 3:
                raise DialplanSyntaxError(f"{where}: exten needs name,priority,application")
            extension = parts[0].strip().split("/", 1)[0]
            priority_text, rest = parts[1].strip(), parts[2]
        elif key == "same":
            if last is None:
                raise DialplanSyntaxError(f"{where}: 'same' with no extension before it")
            extension = last[0]
            priority_text, _, rest = value.partition(",")
        else:
            continue  # ignorepat, switch, ...
        if priority_text == "hint":
            continue
        priority = _PRIORITY.fullmatch(priority_text.strip())
        if priority is None:
            raise DialplanSyntaxError(f"{where}: priority {priority_text!r} is not supported")
        if priority["number"] == "n":
            if last is None or last[0] != extension:
                raise DialplanSyntaxError(f"{where}: priority n with no priority before it")
            number = last[1] + 1
        else:
            number = int(priority["number"])
        app = _APP.fullmatch(rest.strip())
        if app is None:
            raise DialplanSyntaxError(f"{where}: cannot read application {rest!r}")
        steps = plan.contexts[context].setdefault(extension, [])
        if any(step.priority == number for step in steps):
            raise DialplanSyntaxError(f"{where}: {context},{extension},{number} defined twice")
        label = priority["label"]
        if label and any(step.label == label for step in steps):
            raise DialplanSyntaxError(f"{where}: label {label} defined twice in {extension}")
        steps.append(Step(context, extension, number, label, app["app"], app["args"] or "", where))
        last = (extension, number)
    return plan


# -- Asterisk extension patterns -------------------------------------------------------


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """``_NXXXXXX``, ``_X.``, ``_[+0-9].``, ``_0!`` as a regular expression."""
    assert pattern.startswith("_"), pattern
    out = []
    index = 1
    while index < len(pattern):
        char = pattern[index]
        upper = char.upper()
        if upper == "X":
            out.append("[0-9]")
        elif upper == "Z":
            out.append("[1-9]")
        elif upper == "N":
            out.append("[2-9]")
        elif char == ".":
            out.append(".+")
        elif char == "!":
            out.append(".*")
        elif char == "[":
            end = pattern.index("]", index)
            body = pattern[index + 1 : end]
            out.append("[" + "".join("-" if c == "-" else re.escape(c) for c in body) + "]")
            index = end
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("".join(out))


def extension_matches(extension: str, dialled: str) -> bool:
    if extension.startswith("_"):
        return pattern_regex(extension).fullmatch(dialled) is not None
    return extension == dialled


def dialled_samples(extension: str) -> list[str]:
    """What ${EXTEN} can be while a call runs ``extension``."""
    if not extension.startswith("_"):
        return [extension]
    return [sample for sample in SAMPLE_EXTENSIONS if extension_matches(extension, sample)]


# -- where calls can go ----------------------------------------------------------------


def split_top(text: str, separator: str, maxsplit: int = -1) -> list[str]:
    """Split on ``separator`` outside brackets, ``${...}``, ``$[...]`` and quotes."""
    parts: list[str] = []
    depth = 0
    quoted = False
    start = 0
    for index, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == separator and depth == 0 and (maxsplit < 0 or len(parts) < maxsplit):
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


@dataclass(frozen=True)
class Jump:
    """A dialplan location named by ``step`` (``[[context,]extension,]priority``)."""

    step: Step
    spec: tuple[str, ...]
    how: str


def jumps(step: Step) -> Iterator[Jump]:
    app = step.app.lower()
    args = step.args
    if app in ("goto", "gosub"):
        yield Jump(step, _location(args), step.app)
    elif app in ("gotoif", "gosubif"):
        _condition, _, branches = args.partition("?")
        for branch in split_top(branches, ":"):
            if branch.strip():
                yield Jump(step, _location(branch), step.app)
    elif app == "execif":
        _condition, _, branches = args.partition("?")
        for branch in split_top(branches, ":"):
            inner = _APP.fullmatch(branch.strip())
            if inner:
                yield from jumps(replace(step, app=inner["app"], args=inner["args"] or ""))
    elif app == "dial":
        parts = split_top(args, ",")
        for letter, argument in dial_options(parts[2] if len(parts) > 2 else ""):
            if letter in "bBU" and argument:
                yield Jump(step, _location(argument.replace("^", ",")), f"Dial option {letter}")
    elif app == "set":
        for handler in re.findall(r"hangup_handler_push\)=([^)]+)", args):
            yield Jump(step, _location(handler), "hangup handler")


def dial_options(text: str) -> list[tuple[str, str]]:
    """``tTb(ctx^s^1)U(sub)`` as [("t", ""), ("T", ""), ("b", "ctx^s^1"), ("U", "sub")]."""
    options = []
    index = 0
    while index < len(text):
        letter = text[index]
        index += 1
        argument = ""
        if index < len(text) and text[index] == "(":
            depth, start = 0, index
            while index < len(text):
                depth += {"(": 1, ")": -1}.get(text[index], 0)
                index += 1
                if depth == 0:
                    break
            argument = text[start + 1 : index - 1]
        options.append((letter, argument))
    return options


def _location(text: str) -> tuple[str, ...]:
    text = re.sub(r"\([^()]*\)$", "", text.strip())  # Gosub arguments
    return tuple(part.strip() for part in split_top(text, ","))


def _find_extension(
    plan: Dialplan, context: str, dialled: str, seen: frozenset[str] = frozenset()
) -> list[list[Step]] | None:
    """The extension(s) Asterisk could run for ``dialled`` in ``context`` (None: no context)."""
    if context not in plan.contexts or context in seen:
        return None
    extensions = plan.contexts[context]
    if dialled in extensions:
        return [extensions[dialled]]
    matched = [steps for name, steps in extensions.items() if extension_matches(name, dialled)]
    if matched:
        return matched
    for included in plan.includes.get(context, []):
        found = _find_extension(plan, included, dialled, seen | {context})
        if found:
            return found
    return []


def problems_with(
    plan: Dialplan, jump: Jump, provided: AbstractSet[str] = frozenset()
) -> list[str]:
    step = jump.step
    spec = jump.spec
    if len(spec) == 1:
        context, extension, priority = step.context, step.extension, spec[0]
    elif len(spec) == 2:
        context, extension, priority = step.context, spec[0], spec[1]
    elif len(spec) == 3:
        context, extension, priority = spec
    else:
        return [f"{step.where}: {jump.how} {','.join(spec)}: too many parts"]
    if context in provided:
        return []
    where = f"{step.where}: {jump.how} {context},{extension},{priority}"
    if "${" in context or "${" in priority:
        return [f"{where}: a variable location cannot be checked"]
    if (context, extension) == (step.context, step.extension):
        dialled = [extension]  # a label or priority of the extension running now
    elif extension == "${EXTEN}":
        dialled = dialled_samples(step.extension)
        if not dialled:
            return [f"{where}: no sample number matches {step.extension}"]
    elif "${" in extension:
        return [f"{where}: a variable location cannot be checked"]
    else:
        dialled = [extension]
    problems = []
    for number in dialled:
        found = _find_extension(plan, context, number)
        if found is None:
            problems.append(f"{where}: there is no context [{context}]")
            break
        if not found:
            problems.append(f"{where}: [{context}] has no extension matching {number!r}")
            continue
        for steps in found:
            if priority.isdigit():
                ok = any(s.priority == int(priority) for s in steps)
            else:
                ok = any(s.label == priority for s in steps)
            if not ok:
                problems.append(
                    f"{where}: [{context}] {steps[0].extension} has no priority {priority!r}"
                )
    return problems


def all_problems(
    plan: Dialplan, provided: AbstractSet[str] = frozenset(), only: Dialplan | None = None
) -> list[str]:
    """Every jump (of ``only``'s steps, if given) that does not land in ``plan``."""
    problems: list[str] = []
    for step in (only or plan).steps():
        for jump in jumps(step):
            problems += problems_with(plan, jump, provided)
    return problems


def location_problems(plan: Dialplan, context: str, extension: str, priority: int) -> list[str]:
    here = Step(context, extension, 0, None, "Continue", "", "settings")
    return problems_with(plan, Jump(here, (context, extension, str(priority)), "continue to"))


# -- voicemail.conf and pjsip.conf -----------------------------------------------------


def voicemail_boxes(path: Path) -> set[tuple[str, str]]:
    """(mailbox, context) pairs defined in a ``voicemail.conf``."""
    boxes = set()
    section = None
    for raw in path.read_text().splitlines():
        line = _strip_comment(raw)
        if not line:
            continue
        header = _HEADER.fullmatch(line)
        if header:
            section = header["name"].strip()
            continue
        match = re.fullmatch(r"(\w+)\s*=>\s*(.+)", line)
        if match and section not in (None, "general", "zonemessages"):
            boxes.add((match[1], section))
    return boxes


def voicemail_uses(plan: Dialplan) -> Iterator[tuple[Step, str, str]]:
    for step in plan.steps():
        if step.app.lower() in ("voicemail", "voicemailmain"):
            spec = split_top(step.args, ",")[0].strip()
            for one in spec.split("&"):
                box, _, context = one.partition("@")
                yield step, box, context or "default"


def pjsip_sections(path: Path) -> list[tuple[str, dict[str, str]]]:
    sections: list[tuple[str, dict[str, str]]] = []
    for raw in path.read_text().splitlines():
        line = _strip_comment(raw)
        header = _HEADER.fullmatch(line)
        if header:
            sections.append((header["name"], {}))
        elif "=" in line and sections:
            key, _, value = line.partition("=")
            sections[-1][1][key.strip()] = value.strip()
    return sections


# -- the settings that name a dialplan location ------------------------------------------


def continue_location(values: dict[str, object]) -> tuple[str, str, int]:
    """(context, extension, priority) from an ``[ari]`` table; Python defaults for the rest."""
    defaults = Settings().ari
    return (
        str(values.get("continue_context", defaults.continue_context)),
        str(values.get("continue_extension", defaults.continue_extension)),
        int(str(values.get("continue_priority", defaults.continue_priority))),
    )


def example_ari() -> dict[str, object]:
    with EXAMPLE_SETTINGS.open("rb") as handle:
        ari = tomllib.load(handle).get("ari", {})
    assert isinstance(ari, dict)
    return ari


def fenced_blocks(path: Path) -> Iterator[tuple[str, str, int]]:
    """(language, body, line) for every fenced code block, list indentation removed."""
    text = path.read_text()
    fence = re.compile(
        r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[ \t]*\n(?P<body>.*?)^(?P=indent)```",
        re.M | re.S,
    )
    for match in fence.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        yield match["lang"], textwrap.dedent(match["body"]), line


# -- the parser itself -----------------------------------------------------------------


def test_reader_follows_contexts_priorities_labels_and_includes(tmp_path: Path) -> None:
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "extra.conf").write_text(
        "[extra]\nexten => _0[1-2]X.,1,Answer() ; a comment\n same => n(ok),Hangup()\n"
    )
    main = tmp_path / "extensions.conf"
    main.write_text(
        textwrap.dedent(
            """\
            [general]
            static = yes
            [globals]
            PHONE = PJSIP/100
            ;-- a block
            comment --;
            [in]
            include => extra
            exten => s,1,NoOp(a \\; in text)
             same => n(again),Goto(extra,0113,ok)
            exten => 5,1,Dial(${PHONE},30,b(in^s^again))
            #include "more/extra.conf"
            """
        )
    )
    plan = read_dialplan(main)
    assert set(plan.contexts) == {"in", "extra"}
    assert plan.globals == {"PHONE": "PJSIP/100"}
    steps = plan.contexts["in"]["s"]
    assert [(s.priority, s.label, s.app) for s in steps] == [
        (1, None, "NoOp"),
        (2, "again", "Goto"),
    ]
    assert steps[0].args == "a ; in text"
    assert plan.contexts["extra"]["_0[1-2]X."][1].label == "ok"
    assert plan.includes["in"] == ["extra"]
    assert all_problems(plan) == []
    # [in] reaches 0113 through its include of [extra].
    assert location_problems(plan, "in", "0113", 2) == []
    assert [j.spec for j in jumps(plan.contexts["in"]["5"][0])] == [("in", "s", "again")]


def test_patterns_match_like_asterisk() -> None:
    assert extension_matches("_X.", "441134960000")
    assert not extension_matches("_X.", "+441134960000")
    assert extension_matches("_[+0-9].", "+441134960000")
    assert extension_matches("_NXX", "200") and not extension_matches("_NXX", "100")
    assert extension_matches("_0!", "0") and not extension_matches("_0.", "0")
    assert extension_matches("_.", "s") and not extension_matches("s", "t")


def test_checker_reports_every_kind_of_broken_location() -> None:
    plan = parse_text(
        textwrap.dedent(
            """\
            [in]
            exten => _X.,1,GotoIf($["${V}" = "a"]?nowhere,s,1:missing)
             same => n,Goto(out,${EXTEN},1)
             same => n,Goto(out,s,7)
             same => n,ExecIf($[1]?Set(CHANNEL(hangup_handler_push)=gone,s,1))
             same => n,Dial(PJSIP/x,30,b(out^s^nolabel))
            [out]
            exten => s,1,Hangup()
            """
        )
    )
    problems = "\n".join(all_problems(plan))
    assert "there is no context [nowhere]" in problems
    assert "_X. has no priority 'missing'" in problems
    assert "[out] has no extension matching '441134960000'" in problems
    assert "[out] s has no priority '7'" in problems
    assert "hangup handler gone,s,1: there is no context [gone]" in problems
    assert "[out] s has no priority 'nolabel'" in problems
    assert location_problems(plan, "internal", "100", 1) == [
        "settings: continue to internal,100,1: there is no context [internal]"
    ]


# -- the shipped files -------------------------------------------------------------------


def test_example_settings_continue_allowed_calls_into_the_shipped_dialplan() -> None:
    location = continue_location(example_ari())
    assert location_problems(read_dialplan(EXTENSIONS), *location) == []


def test_compose_continues_allowed_calls_into_the_shipped_dialplan() -> None:
    environment = yaml.safe_load(COMPOSE.read_text())["services"]["screener"]["environment"]
    values = dict(example_ari())
    for key in ("continue_context", "continue_extension", "continue_priority"):
        env_name = f"SCREENER_ARI__{key.upper()}"
        if env_name in environment:
            values[key] = environment[env_name]
    location = continue_location(values)
    assert location_problems(read_dialplan(EXTENSIONS), *location) == []
    assert location == continue_location(example_ari()), "compose and the example differ"


def test_built_in_defaults_continue_into_the_shipped_dialplan() -> None:
    location = continue_location({})
    assert location_problems(read_dialplan(EXTENSIONS), *location) == []


@pytest.mark.parametrize("path", SHIPPED_DIALPLANS, ids=lambda p: p.name)
def test_every_jump_in_a_shipped_dialplan_lands(path: Path) -> None:
    plan = read_dialplan(path)
    assert plan.contexts, f"{path.name} has no contexts"
    assert any(True for step in plan.steps() for _ in jumps(step)), "nothing was checked"
    assert all_problems(plan, PROVIDED_ELSEWHERE.get(path.name, set())) == []


def test_the_shipped_dialplan_has_a_voicemail_location_for_screener() -> None:
    plan = read_dialplan(EXTENSIONS)
    assert location_problems(plan, "screened", "voicemail", 1) == []
    assert any(s.app == "VoiceMail" for s in plan.contexts["screened"]["voicemail"])


def test_every_voicemail_box_used_is_in_the_shipped_voicemail_conf() -> None:
    boxes = voicemail_boxes(VOICEMAIL) if VOICEMAIL.exists() else set()
    used = 0
    for path in SHIPPED_DIALPLANS:
        for step, box, context in voicemail_uses(read_dialplan(path)):
            used += 1
            assert (box, context) in boxes, (
                f"{step.where}: {step.app}({step.args}) uses mailbox {box}@{context}, "
                "which asterisk-config/voicemail.conf does not define"
            )
    assert used, "the shipped dialplan uses no voicemail box"


def test_every_pjsip_endpoint_starts_in_an_existing_context() -> None:
    plan = read_dialplan(EXTENSIONS)
    endpoints = [(n, s) for n, s in pjsip_sections(PJSIP) if s.get("type") == "endpoint"]
    assert endpoints
    for name, section in endpoints:
        assert section.get("context") in plan.contexts, (
            f"pjsip.conf endpoint {name} starts calls in [{section.get('context')}], "
            "which extensions.conf does not have"
        )


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_documented_dialplan_and_settings_match_the_shipped_dialplan(path: Path) -> None:
    shipped = Dialplan()
    for dialplan in SHIPPED_DIALPLANS:
        shipped = shipped.overlay(read_dialplan(dialplan))
    for lang, body, line in fenced_blocks(path):
        name = f"{path.name}:{line}"
        if re.search(r"^\s*(exten|same)\s*=>", body, re.M):
            snippet = parse_text(body, name)
            assert all_problems(shipped.overlay(snippet), only=snippet) == [], name
        if lang == "toml" and "continue_" in body:
            ari = tomllib.loads(body).get("ari", {})
            values = {**example_ari(), **ari}
            location = continue_location(values)
            assert location_problems(read_dialplan(EXTENSIONS), *location) == [], name
