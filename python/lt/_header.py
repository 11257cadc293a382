"""Reads ``lt.h`` (the header cbindgen generates from the library's C layer).

The Python side never keeps its own copy of a constant, a struct layout or a
function signature: everything is read from the header that was built with
the library, so the two cannot drift apart. The header is regular (cbindgen
writes one declaration per line), and this parser accepts exactly that
shape, failing loudly on anything it does not understand rather than
guessing.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

#: C scalar type names the header uses, as the ctypes attribute names.
SCALARS = {
    "int8_t": "c_int8",
    "int16_t": "c_int16",
    "int32_t": "c_int32",
    "int64_t": "c_int64",
    "uint8_t": "c_uint8",
    "uint16_t": "c_uint16",
    "uint32_t": "c_uint32",
    "uint64_t": "c_uint64",
    "size_t": "c_size_t",
    "bool": "c_bool",
    "char": "c_char",
    "double": "c_double",
    "float": "c_float",
    "int": "c_int",
    "void": "void",
}


@dataclass(frozen=True)
class CType:
    """A C type as written in the header: a base name, the pointer depth, an
    array length (for struct fields and array parameters), and for a
    function pointer its return type and parameters."""

    base: str
    pointers: int = 0
    array: int | None = None
    const: bool = False
    func: tuple["CType", tuple["CType", ...]] | None = None


@dataclass(frozen=True)
class Param:
    """One parameter of a function, or one field of a struct."""

    name: str
    type: CType


@dataclass
class Header:
    """Everything the Python package reads from ``lt.h``."""

    #: ``#define`` integer constants, by their C name (``LT_ADD_PAUSED``).
    constants: dict[str, int] = field(default_factory=dict)
    #: Struct layouts in declaration order, by C name (``lt_stats_t``).
    structs: dict[str, list[Param]] = field(default_factory=dict)
    #: Opaque types (``lt_session_t``).
    opaque: set[str] = field(default_factory=set)
    #: ``typedef`` aliases to scalars or function pointers.
    typedefs: dict[str, CType] = field(default_factory=dict)
    #: Function prototypes: name -> (return type, parameters).
    functions: dict[str, tuple[CType, list[Param]]] = field(default_factory=dict)


class HeaderError(ValueError):
    """The header has a declaration this parser does not understand."""


_COMMENT_BLOCK = re.compile(r"/\*.*?\*/", re.S)
_COMMENT_LINE = re.compile(r"//[^\n]*")
_DEFINE = re.compile(r"^#define\s+([A-Z_][A-Z0-9_]*)\s+(.+)$")
_STRUCT_OPEN = re.compile(r"^typedef struct (\w+) \{$")
_STRUCT_CLOSE = re.compile(r"^\} (\w+);$")
_OPAQUE = re.compile(r"^typedef struct (\w+) (\w+);$")
_FN_TYPEDEF = re.compile(r"^typedef (.+?)\(\*(\w+)\)\((.*)\);$")
_TYPEDEF = re.compile(r"^typedef ([\w ]+?) (\w+);$")
_PROTOTYPE = re.compile(r"^(.+?)\b(\w+)\((.*)\);$")


def _eval_int(expr: str, known: dict[str, int]) -> int | None:
    """Evaluates a ``#define`` body made of integers, names defined before,
    ``<<``, ``|``, ``+``, ``-`` and parentheses; None for anything else (an
    initializer such as ``LT_STATS_INIT``), which the package has no use for."""
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError:
        return None

    def ev(node: ast.AST) -> int:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name) and node.id in known:
            return known[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.LShift):
                return a << b
            if isinstance(node.op, ast.BitOr):
                return a | b
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Sub):
                return a - b
        raise ValueError(expr)

    try:
        return ev(tree)
    except ValueError:
        return None


def parse_type(decl: str) -> Param:
    """Parses one declarator: ``const char *name``, ``uint8_t target[20]``,
    ``bool (*filter)(void *user, const char *path)``, ``struct lt_stats_t *stats``."""
    decl = " ".join(decl.split())
    fn = re.fullmatch(r"(.+?)\(\*(\w*)\)\((.*)\)", decl)
    if fn:
        ret = parse_type(fn.group(1)).type
        params = tuple(p.type for p in split_params(fn.group(3)))
        return Param(fn.group(2), CType("fn", pointers=1, func=(ret, params)))
    ptr_to_array = re.fullmatch(r"(.+?) ?\(\*(\w*)\)\[\w+\]", decl)
    if ptr_to_array:
        # `uint8_t (*out)[20]`: passed as a pointer to the first element.
        elem = parse_type(ptr_to_array.group(1)).type
        return Param(ptr_to_array.group(2), CType(elem.base, pointers=elem.pointers + 1, const=elem.const))
    arr = re.fullmatch(r"(.+?)\[(\w+)\]", decl)
    array = None
    if arr:
        decl, size = arr.group(1), arr.group(2)
        if not size.isdigit():
            raise HeaderError(f"array size must be a number: {decl}[{size}]")
        array = int(size)
    # The name is optional: cbindgen leaves it out in function-pointer types.
    m = re.fullmatch(r"((?:const )?(?:struct )?\w+)(?: ?(\*+) ?(?:const )?| )?(\w*)", decl)
    if not m:
        raise HeaderError(f"cannot read declaration {decl!r}")
    base, stars, name = m.group(1), m.group(2) or "", m.group(3)
    const = base.startswith("const ")
    base = base.removeprefix("const ").removeprefix("struct ").strip()
    return Param(name, CType(base, pointers=len(stars), array=array, const=const))


def split_params(text: str) -> list[Param]:
    """Splits a parameter list at top-level commas (function-pointer
    parameters have commas of their own) and parses each parameter."""
    text = text.strip()
    if text in ("", "void"):
        return []
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [parse_type(p) for p in parts]


def parse(text: str) -> Header:
    """Parses the whole header."""
    text = _COMMENT_BLOCK.sub("", text)
    text = _COMMENT_LINE.sub("", text)
    header = Header()
    current: tuple[str, list[Param]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if current is not None:
            close = _STRUCT_CLOSE.match(line)
            if close:
                header.structs[close.group(1)] = current[1]
                current = None
            else:
                current[1].append(parse_type(line.rstrip(";")))
            continue
        if line.startswith("#"):
            d = _DEFINE.match(line)
            if d:
                value = _eval_int(d.group(2), header.constants)
                if value is not None:
                    header.constants[d.group(1)] = value
            continue
        if line in ('extern "C" {', "}"):
            continue
        if m := _STRUCT_OPEN.match(line):
            current = (m.group(1), [])
        elif m := _OPAQUE.match(line):
            header.opaque.add(m.group(2))
        elif m := _FN_TYPEDEF.match(line):
            ret = parse_type(m.group(1)).type
            params = tuple(p.type for p in split_params(m.group(3)))
            header.typedefs[m.group(2)] = CType("fn", pointers=1, func=(ret, params))
        elif m := _TYPEDEF.match(line):
            header.typedefs[m.group(2)] = parse_type(f"{m.group(1)} {m.group(2)}").type
        elif m := _PROTOTYPE.match(line):
            ret = parse_type(m.group(1).strip()).type
            header.functions[m.group(2)] = (ret, split_params(m.group(3)))
        else:
            raise HeaderError(f"cannot read header line {line!r}")
    if current is not None:
        raise HeaderError(f"struct {current[0]} does not end")
    return header
