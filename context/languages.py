"""Language facts, in one table: file extensions, tree-sitter grammar, line comment, families,
and how an import names the files it means.

Chunking takes the grammar from here, the prompt takes the comment that heads a file's snippet,
ranking takes the family (files of one family import each other), and import resolution takes
the files a module name may stand for. The import statements themselves are parsed where the
bindings are read (``infill_lsp.context.cursor``, ``infill_lsp.context.index``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    """What the index and the prompt need to know about one language."""

    name: str
    extensions: tuple[str, ...]
    grammar: str | None = None
    """The tree-sitter grammar (``tree-sitter-language-pack`` name); None: chunked by lines."""
    line_comment: str = "//"
    family: str = ""
    """Languages that import each other share a family (default: the language's own name)."""


LANGUAGES = (
    Language("python", (".py", ".pyi"), "python", "#"),
    Language("javascript", (".js", ".mjs", ".cjs", ".jsx"), "javascript", family="js"),
    Language("typescript", (".ts",), "typescript", family="js"),
    Language("tsx", (".tsx",), "tsx", family="js"),
    Language("go", (".go",), "go"),
    Language("rust", (".rs",), "rust"),
    Language("java", (".java",), "java"),
    Language("c", (".c", ".h"), "c"),
    Language("cpp", (".cc", ".cpp", ".hpp"), "cpp"),
    Language("csharp", (".cs",), "csharp"),
    Language("ruby", (".rb",), "ruby", "#"),
    Language("php", (".php",), "php"),
    Language("lua", (".lua",), "lua", "--"),
    Language("kotlin", (".kt",), "kotlin"),
    Language("swift", (".swift",), "swift"),
    Language("scala", (".scala",), "scala"),
    Language("bash", (".sh",), "bash", "#"),
    Language("yaml", (".yaml", ".yml"), line_comment="#"),
    Language("toml", (".toml",), line_comment="#"),
    Language("r", (".r",), line_comment="#"),
    Language("perl", (".pl",), line_comment="#"),
    Language("sql", (".sql",), line_comment="--"),
    Language("haskell", (".hs",), line_comment="--"),
)
_BY_EXTENSION = {extension: language for language in LANGUAGES for extension in language.extensions}

RELATIVE_PYTHON_FILES = (".py", "/__init__.py")
"""What ``from .stem import x`` may name."""
RELATIVE_SCRIPT_FILES = ("", ".ts", ".tsx", ".js", ".jsx", ".py", "/index.ts", "/index.js")
"""What ``import x from './stem'`` may name (JavaScript and TypeScript resolve the extension)."""
RUST_MODULE_FILES = (".rs", "/mod.rs")
DOTTED_MODULE_FILES = (".py", "/__init__.py", ".java", ".kt", ".go", "")
"""What an absolute ``a.b.c`` (or ``a/b/c``) may name: Python, Java, Kotlin or a Go package folder."""


def extension(path: str) -> str:
    return path[path.rfind("."):].lower() if "." in path.rsplit("/", 1)[-1] else ""


def language_of(path: str) -> Language | None:
    """The language of a file, by its extension."""
    return _BY_EXTENSION.get(extension(path))


def family_of(path: str) -> str:
    """The language family of a file (its extension when the language is unknown)."""
    language = language_of(path)
    return (language.family or language.name) if language else extension(path)


def line_comment(path: str) -> str:
    """The line comment of a file's language (``//`` when unknown)."""
    language = language_of(path)
    return language.line_comment if language else "//"


def is_rust_path(module: str) -> bool:
    """Whether an imported module is a Rust path (``crate::net``, ``super``), not a dotted or
    slashed one."""
    return "::" in module or module in ("crate", "self", "super")


def module_files(importer: str, module: str) -> list[str]:
    """The workspace paths an import of ``module`` in the file ``importer`` may name, likeliest first."""
    if module.startswith(".") and not module.startswith(("./", "../")) and module != "..":
        # Python's relative import: one dot is the importer's package, each more one up.
        dots = len(module) - len(module.lstrip("."))
        base = importer.split("/")[:-1]
        base = base[:len(base) - (dots - 1)] if dots - 1 <= len(base) else []
        stem = "/".join(base + [part for part in module[dots:].split(".") if part])
        return [stem + ending for ending in RELATIVE_PYTHON_FILES] if stem else ["__init__.py"]
    if module.startswith("."):
        base = importer.rsplit("/", 1)[0] if "/" in importer else ""
        resolved: list[str] = []
        for part in (base + "/" + module).split("/"):
            if part == "..":
                if resolved:
                    resolved.pop()
            elif part not in ("", "."):
                resolved.append(part)
        return ["/".join(resolved) + ending for ending in RELATIVE_SCRIPT_FILES]
    if is_rust_path(module):
        return [_rust_module_stem(importer, module) + ending for ending in RUST_MODULE_FILES]
    stem = module.replace(".", "/").strip("/")
    return [stem + ending for ending in DOTTED_MODULE_FILES]


def _rust_module_stem(importer: str, module: str) -> str:
    """``crate::net::client`` → ``src/net/client`` (the importer's crate root is the ``src`` folder
    above it); ``super::`` and ``self::`` count from the importer's own module. An external
    crate's path is left as it is, to be matched at the end of an indexed path."""
    parts = module.split("::")
    folders = importer.split("/")[:-1]
    if parts[0] == "crate":
        root = len(folders) - folders[::-1].index("src") if "src" in folders else 0
        return "/".join(folders[:root] + parts[1:])
    if parts[0] in ("self", "super"):
        stem = importer.rsplit("/", 1)[-1].removesuffix(".rs")
        base = folders if stem in ("mod", "lib", "main") else folders + [stem]  # the importer's module folder
        while parts and parts[0] in ("self", "super"):
            if parts.pop(0) == "super" and base:
                base = base[:-1]
        return "/".join(base + parts)
    return "/".join(parts)
