"""Command line: ``infill-lsp`` serves LSP; ``complete``, ``prompt`` and ``check`` help humans.

``infill-lsp`` / ``infill-lsp --stdio``   language server on stdio (the default)
``infill-lsp --tcp --port N``             language server on 127.0.0.1:N (debugging)
``infill-lsp complete FILE --line L --character C``   stream a suggestion to the terminal
``infill-lsp prompt FILE --line L --character C``     show the exact prompt tokens
``infill-lsp check``                      load the model and measure it
``infill-lsp models`` / ``pull NAME``       the model catalog; download a model and verify it
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from pathlib import Path

from infill_lsp import __version__
from infill_lsp.engine.http_client import is_loopback
from infill_lsp.engine.models import ENGINE_CA_ENV, ENGINE_URL_ENV, ModelOptions, RemoteOptions, choose_model_path
from infill_lsp.engine.native_backend import FLASH_ATTENTION_SETTINGS
from infill_lsp.engine.server_apis import API_CHOICES
from infill_lsp.logs import claim_stdout, setup_logging
from infill_lsp.settings import CompletionSettings, ContextSettings

logger = logging.getLogger(__name__)


def _model_flags(parser: argparse.ArgumentParser, *, inherited: bool) -> None:
    # Subcommands repeat the global flags; SUPPRESS keeps a subcommand from resetting a value
    # given before it (``infill-lsp --model X check``).
    default = (lambda value: argparse.SUPPRESS) if inherited else (lambda value: value)
    parser.add_argument("--model", default=default(None),
                        help="GGUF file, catalog name (`infill-lsp models`) or hf:owner/repo/file.gguf, downloaded "
                             "with "
                             "`infill-lsp pull` (env INFILL_MODEL; default: bundled SmolLM2-135M)")
    parser.add_argument("--n-ctx", type=int, default=default(0),
                        help="context size in tokens (default: the model's, at most 8192)")
    parser.add_argument("--n-gpu-layers", type=int, default=default(None),
                        help="layers to offload to the GPU (default: all when built with CUDA/Metal, else 0)")
    parser.add_argument("--threads", type=int, default=default(0),
                        help="CPU threads (default: one per core, at most 8)")
    parser.add_argument("--rope-scale", type=_at_least_one, default=default(1.0),
                        help="linear RoPE scaling: 4 gives a model trained on 8K tokens a 32K context (with --n-ctx)")
    parser.add_argument("--flash-attn", choices=FLASH_ATTENTION_SETTINGS, default=default("auto"),
                        help="flash attention (default auto: off on the CPU, where it slows each keystroke; "
                             "llama.cpp's choice on a GPU)")
    parser.add_argument("--engine-url", default=default(None),
                        help="inference server to run the model on (llama-server or OpenAI-compatible, e.g. vLLM; "
                             "env INFILL_ENGINE_URL; the API key comes from env INFILL_ENGINE_KEY only)")
    parser.add_argument("--engine-api", choices=API_CHOICES, default=default("auto"),
                        help="the server's API: llama-server /completion, OpenAI /v1/completions, or auto (ask it)")
    parser.add_argument("--engine-vocab", default=default(None),
                        help="GGUF of the served model, for its vocabulary (default: --model, else the bundled one)")
    parser.add_argument("--engine-ca", default=default(None),
                        help="PEM bundle of extra trusted CAs for https (env INFILL_ENGINE_CA); the system store "
                             "stays trusted and certificates are always verified")
    parser.add_argument("--engine-header", action="append", default=default([]), metavar="'NAME: VALUE'",
                        help="extra header for a proxy in front of the server (repeatable)")
    parser.add_argument("--engine-slot", type=int, default=default(None),
                        help="first of the two llama-server slots reserved for this user, N and N+1 (default: the "
                             "server picks)")
    parser.add_argument("--engine-timeout", type=float, default=default(30.0),
                        help="seconds of silence from the server before a request fails")
    parser.add_argument("--log-file", default=default(None), help="write logs here instead of stderr")
    parser.add_argument("-v", "--verbose", action="count", default=default(0),
                        help="-v: debug logs; -vv: also llama.cpp and pygls")


def _at_least_one(text: str) -> float:
    value = float(text)
    if not value >= 1.0:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {text})")
    return value


def _doc(name: str) -> str:
    """The setting's own description, so flags and settings say the same thing."""
    return next(f.metadata["description"] for f in dataclasses.fields(CompletionSettings) if f.name == name)


def _position_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="source file")
    parser.add_argument("--line", type=int, required=True, help="cursor line, 1-based as editors show it")
    parser.add_argument("--character", type=int, required=True, help="cursor column, 1-based, in characters")
    parser.add_argument("--max-tokens", type=int, default=CompletionSettings.max_tokens, help=_doc("max_tokens"))
    parser.add_argument("--multiline", choices=("auto", "always", "never"), default="auto", help=_doc("multiline"))
    parser.add_argument("--fim", choices=("auto", "on", "off"), default="auto", help=_doc("fim"))
    parser.add_argument("--fim-order", choices=("auto", "psm", "spm"), default="auto", help=_doc("fim_order"))
    parser.add_argument("--temperature", type=float, default=0.0, help=_doc("temperature"))
    parser.add_argument("--workspace", help="repository to draw context from (default: the file's git root)")
    parser.add_argument("--context-tokens", type=int, default=ContextSettings.max_tokens,
                        help="repository-context budget in tokens; 0 disables it")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = argparse.ArgumentParser(prog="infill-lsp", description="Infill code-completion language server.")
    parser.add_argument("--version", action="version", version=f"infill-lsp {__version__}")
    transport = parser.add_mutually_exclusive_group()
    transport.add_argument("--stdio", action="store_true", help="serve on stdio (default)")
    transport.add_argument("--tcp", action="store_true", help="serve on TCP (debugging)")
    parser.add_argument("--host", default="127.0.0.1", help="TCP host (loopback only unless --allow-remote)")
    parser.add_argument("--port", type=int, default=2087, help="TCP port")
    parser.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host")
    _model_flags(parser, inherited=False)
    parser.add_argument("--stats-file", type=Path, default=None,
                        help="where acceptance counts are kept (default: $XDG_DATA_HOME/infill/acceptance.json)")
    commands = parser.add_subparsers(dest="command", metavar="{complete,prompt,check,models,pull,stats}")
    complete = commands.add_parser("complete", help="print a suggestion for a position, streamed, with timings")
    prompt = commands.add_parser("prompt", help="print the exact prompt tokens for a position")
    prompt.add_argument("--json", action="store_true", help="machine-readable output")
    check = commands.add_parser("check", help="load the model and report what it supports and how fast it is")
    models = commands.add_parser("models", help="the model catalog: what is downloaded, what fits this machine")
    models.add_argument("--json", action="store_true", help="machine-readable output")
    pull = commands.add_parser("pull", help="download a catalog model (or hf:owner/repo/file.gguf) and verify it")
    pull.add_argument("name", help="a name from `infill-lsp models`, or hf:owner/repo/file.gguf")
    stats = commands.add_parser("stats", help="the suggestions you were shown and accepted, per language and model")
    stats.add_argument("--json", action="store_true", help="machine-readable output")
    stats.add_argument("--clear", action="store_true", help="forget every count")
    stats.add_argument("--stats-file", type=Path, default=argparse.SUPPRESS, help="the file the server keeps them in")
    for sub in (complete, prompt):
        _position_flags(sub)
    for sub in (complete, prompt, check):
        _model_flags(sub, inherited=True)
    return parser


def remote_options(args: argparse.Namespace, parser: argparse.ArgumentParser) -> RemoteOptions | None:
    """The inference server from ``--engine-*`` flags and the environment, or None (in-process)."""
    url = args.engine_url or os.environ.get(ENGINE_URL_ENV)
    if not url:
        return None
    headers = []
    for header in args.engine_header:
        name, colon, value = header.partition(":")
        if not colon or not name.strip():
            parser.error(f"--engine-header wants 'Name: value', got {header.split(':')[0]!r}…")
        headers.append((name.strip(), value.strip()))
    return RemoteOptions(url, api=args.engine_api, vocab=args.engine_vocab,
                         ca_bundle=args.engine_ca or os.environ.get(ENGINE_CA_ENV) or None, headers=tuple(headers),
                         slot=args.engine_slot, read_timeout_s=args.engine_timeout)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``infill-lsp``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "stats":
        setup_logging(0, None)
        from infill_lsp.acceptance import print_stats

        return print_stats(args.stats_file, as_json=args.json, clear=args.clear)
    if args.command in ("models", "pull"):
        setup_logging(0, None)
        from infill_lsp import catalog_commands

        try:
            return catalog_commands.run(args)
        except BrokenPipeError:  # `infill-lsp models | head`
            sys.stderr.close()
            return 0
    options = ModelOptions(choose_model_path(args.model), args.n_ctx, args.n_gpu_layers, args.threads, args.rope_scale,
                           args.flash_attn, remote_options(args, parser))
    if args.command:
        setup_logging(args.verbose, args.log_file)
        from infill_lsp import commands

        try:
            return commands.run(args, options)
        except BrokenPipeError:  # `infill-lsp prompt … | head`
            sys.stderr.close()
            return 0
    if args.tcp and not (is_loopback(args.host) or args.allow_remote):
        print(f"infill-lsp: refusing to listen on non-loopback host {args.host!r}; pass --allow-remote "
              "to expose your code to the network", file=sys.stderr)
        return 2
    # Claim stdout before anything (llama.cpp included) is loaded, then log to stderr.
    protocol_out = None if args.tcp else claim_stdout()
    setup_logging(args.verbose, args.log_file)
    from infill_lsp.framing import serve_stdio
    from infill_lsp.server import create_server

    server = create_server(options, stats_file=args.stats_file)
    logger.info("infill %s starting (%s), model %s", __version__, "tcp" if args.tcp else "stdio", options.path)
    if args.tcp:
        server.start_tcp(args.host, args.port)
    else:
        return serve_stdio(server, sys.stdin.buffer, protocol_out)
    return 0
