"""Command line: ``python -m assistant {index,search,eval,chat}``.

Every AssistantError becomes one line on stderr and exit code 2; tracebacks are for bugs.
Every option is checked (``check_options``) before a note is read or a model loads, and
no command writes over one of its inputs.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

from assistant.cli.notebooks import add_notebook_option, apply_notebook, everything_index
from assistant.cli.notebooks import add_parsers as add_notebook_parsers
from assistant.cli.options import add_options
from assistant.cli.study import add_parsers as add_study_parsers
from assistant.generators.base import NoticeOnce
from assistant.settings import MODELS, ChatSettings
from corpus.errors import AssistantError, SettingsError
from corpus.files import check_output_path


def _print_json(payload) -> None:
    print(json.dumps(payload, ensure_ascii=False, indent=2))


def _index_dir(args) -> Path:
    from corpus.paths import default_index_dir

    return Path(args.index) if args.index else default_index_dir(Path(args.notes))


def _chunk_config(args):
    """The ChunkConfig --chunk-size / --chunk-overlap / --[no-]ocr ask for; None when none
    is given (the build keeps the previous index's chunking)."""
    from corpus.config import ChunkConfig

    ocr = getattr(args, "ocr", None)
    if (
        not getattr(args, "chunk_size", None)
        and getattr(args, "chunk_overlap", None) is None
        and ocr is None
    ):
        return None
    defaults = ChunkConfig()
    return ChunkConfig(
        chunk_size=args.chunk_size or defaults.chunk_size,
        chunk_overlap=defaults.chunk_overlap if args.chunk_overlap is None else args.chunk_overlap,
        ocr=defaults.ocr if ocr is None else ocr,
    )


def _build(notes: Path, index: Path, args, quiet: bool = False):
    """Index the notes (the CLI's chunking and embedder options) and load the index."""
    from index.config import IndexConfig
    from index.store import open_index

    chunk_config, index_config = _chunk_config(args), None
    if getattr(args, "embedder", None):
        index_config = IndexConfig(embedder=args.embedder)
    loaded, report = open_index(
        notes,
        index,
        chunk_config,
        index_config,
        progress=not quiet and getattr(args, "verbose", False) and sys.stderr.isatty(),
    )
    for warning in report.warnings:
        print(f"aviso: {warning}", file=sys.stderr)
    return loaded, report


def cmd_index(args) -> int:
    _, report = _build(Path(args.notes), Path(args.index), args, quiet=args.json)
    if args.json:
        _print_json(report.__dict__)
    else:
        print(report.summary())
        print(f"  {report.work()}; carpeta del índice: {report.index_dir}")
    return 0


def cmd_search(args) -> int:
    from index.store import MAX_QUERY_CHARS, NotesIndex

    question = _question(args.question)
    if len(question) > MAX_QUERY_CHARS:
        print(
            f"nota: la búsqueda tenía {len(question)} caracteres; se usan los primeros "
            f"{MAX_QUERY_CHARS}",
            file=sys.stderr,
        )
    from corpus.markdown import split_tags

    question, tags = split_tags(question)
    hits = NotesIndex.load(args.index).search(
        question, k=args.k, retriever=args.retriever, tags=tags
    )
    if args.json:
        _print_json([hit.to_json() for hit in hits])
        return 0
    if not hits:
        print("No encuentro nada relacionado en tus notas.")
    for rank, hit in enumerate(hits, start=1):
        print(f"[{rank}] {hit.chunk.source} — {hit.chunk.heading}  (puntuación {hit.score:.3f})")
        print("    " + hit.chunk.text.strip()[:300].replace("\n", "\n    "))
    return 0


def cmd_eval_retrieval(args) -> int:
    from dataclasses import asdict

    from corpus.questions import load_questions
    from eval.retrieval import evaluate_retrieval

    questions = load_questions(args.questions)
    index_dir = _index_dir(args)
    index, _ = _build(Path(args.notes), index_dir, args, quiet=True)
    metrics = evaluate_retrieval(index, questions, retriever=args.retriever)
    metrics["config"] = {
        "notes": str(Path(args.notes).resolve()),
        "questions": str(Path(args.questions).resolve()),
        "index": str(index_dir),
        "k": args.k,
        "retriever": args.retriever or index.config.retriever,
        "index_config": asdict(index.config),
        "chunk_config": asdict(index.chunk_config),
    }
    if args.json:
        _print_json(metrics)
    else:
        for name in ("n", "recall@1", "recall@3", "recall@5", "mrr@10", "ndcg@10"):
            print(f"{name:>9}: {metrics[name]}")
    return 0


def cmd_chat(args) -> int:
    """Interactive loop over the notes: streamed answers with sources; follow-ups work."""
    from assistant.conversation import Turn

    if args.everywhere:
        index = everything_index()
        print(f"Todos los cuadernos ({len(index.chunks)} fragmentos).")
    else:
        index, report = _build(Path(args.notes), _index_dir(args), args)
        print(f"Notas: {args.notes} ({report.notes} notas, {report.chunks} fragmentos).")
    assistant = _answering_assistant(args, index)
    print("Escribe una pregunta (línea vacía o Ctrl-D para salir).")
    history: list[Turn] = []
    while True:
        try:
            question = input("\n> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if not question:
            return 0
        try:
            answer = _stream_answer(assistant, _question(question), history)
        except AssistantError as error:
            # One question failed (a server down for a moment, a bad question): say so in
            # one line and keep the conversation; the next question may well work.
            print(f"\nerror: {error}", file=sys.stderr)
            continue
        history.append(Turn(answer.question, answer.query, answer.answer))


# What a backend had to say (e.g. a server without logprobs: no veto), said once.
_NOTICES = NoticeOnce()


def _print_notice(assistant) -> None:
    if notice := _NOTICES.new(assistant):
        print(f"aviso: {notice}", file=sys.stderr)


def _stream_answer(assistant, question: str, history=()):
    """Print the answer once, then its sources; return the Answer. In a terminal the
    draft streams as it is written and, when the check revises it (citations repaired,
    the draft replaced by a quote of the notes, an abstention), is redrawn in place as
    the checked answer; piped, only the checked answer is printed."""
    live = sys.stdout.isatty()
    shown, answer = "", None
    for event in assistant.stream(question, history):
        if isinstance(event, str):
            if live:
                print(event, end="", flush=True)
                shown += event
        else:
            answer = event
    final = "" if answer.abstained else answer.answer.strip()  # the tail says abstentions
    if shown and shown.strip() != final:
        _erase(shown)
        shown = ""
    if final and not shown:
        print(final, end="")
    print()
    _print_notice(assistant)
    _print_answer_tail(answer)
    return answer


def _erase(text: str) -> None:
    """Move the cursor back over ``text`` just printed to the terminal and clear from
    there (ANSI: cursor up, then erase to the end of the screen)."""
    import math
    import shutil

    columns = max(1, shutil.get_terminal_size().columns)
    rows = sum(max(1, math.ceil(len(line) / columns)) for line in text.split("\n"))
    up = f"\x1b[{rows - 1}A" if rows > 1 else ""
    print(f"\r{up}\x1b[J", end="", flush=True)


def _print_answer_tail(answer) -> None:
    """After the streamed text: unsupported sentences, the evidence, sources, timings."""
    from assistant.web.answer_html import evidence_text, note_lines, timings_text

    if answer.abstained:
        print(f"\n{answer.answer}")
        if answer.closest:
            print("\nPasajes más cercanos:")
            for c in answer.closest:
                print(_source_line(c))
    else:
        # Only the unsupported claims of a sentence, when the checker reads claims.
        unsupported = [
            claim
            for s in answer.sentences
            if not s.supported
            for claim in (s.unsupported_claims or [s.text])
        ]
        if unsupported:
            print("\nFrases sin respaldo en tus notas:")
            for sentence in unsupported:
                print(f"  ⚠ {sentence}")
        if answer.evidence:
            print(f"\n{evidence_text(answer)}")
        print("\nFuentes:")
        for c in answer.citations or []:
            print(_source_line(c))
        if not answer.citations:
            print("  (la respuesta no cita ningún pasaje)")
    for note in note_lines(answer):
        print(f"nota: {note}")
    print(f"\n[{timings_text(answer)}]")


def _source_line(citation) -> str:
    """A passage as the terminal lists it: number, note, heading, the note's tags."""
    return f"  {citation.label()}"


def _answering_assistant(args, index):
    """The Assistant the ANSWERING options ask for (ask, chat)."""
    from assistant.settings import ChatSettings, load_assistant

    return load_assistant(
        index,
        ChatSettings(
            model=args.model,
            adapter=args.adapter,
            strategy=args.strategy,
            passages=args.passages,
            max_new_tokens=args.max_new_tokens,
            temperature=args.temperature,
            precision=args.precision,
            base_url=args.base_url,
        ),
    )


def cmd_ask(args) -> int:
    from index.store import open_index

    question = _question(args.question)
    index = everything_index() if args.everywhere else open_index(args.notes, args.index)[0]
    assistant = _answering_assistant(args, index)
    if args.json:
        _print_json(assistant.answer(question).to_json())
        _print_notice(assistant)
        return 0
    _stream_answer(assistant, question)
    return 0


def cmd_eval_answers(args) -> int:
    from eval.answers import check_log_path, run_answer_eval

    if args.log:
        check_log_path(args.log, args.questions, args.notes, args.index, args.model, args.adapter)
        if Path(args.log).exists() and not (args.force or args.append):
            raise SettingsError(
                f"--log {args.log} ya existe: añade --append para seguirlo o --force para "
                "reemplazarlo"
            )
    result = run_answer_eval(
        notes=args.notes,
        questions=args.questions,
        strategy=args.strategy,
        model=args.model,
        adapter=args.adapter,
        limit=args.limit,
        index_dir=args.index,
        log=args.log,
        append=args.append,
        precision=args.precision,
        passages=args.passages,
        progress=args.verbose and sys.stderr.isatty(),
        base_url=args.base_url,
    )
    if args.json:
        _print_json(result)
    else:
        for name, value in result.items():
            if name != "config":
                print(f"{name:>22}: {value}")
    return 0


def cmd_experiment(args) -> int:
    """The strategy x model x seed grid: results.json, plots and report.md in --out."""
    from eval.experiment.grid import parse_seeds, progress_bar, run_experiment, split_list

    inputs = {"preguntas": args.questions, "notas": args.notes, "índice": args.index}
    check_output_path(args.out, "--out", inputs, folder=True)
    with progress_bar(enabled=args.verbose and sys.stderr.isatty()) as progress:
        results = run_experiment(
            args.questions,
            split_list(args.strategies),
            split_list(args.models),
            parse_seeds(args.seeds),
            limit=args.limit,
            out=args.out,
            notes=args.notes,
            index_dir=args.index,
            precision=args.precision,
            progress=progress,
        )
    run = results["run"]
    print(f"Celdas: {run['cells']} ({run['ran']} ejecutadas, {run['skipped']} ya terminadas)")
    for name, path in results["files"].items():
        print(f"{name}: {path}")
    return 0


def cmd_train_lora(args) -> int:
    """Train a LoRA adapter on a dataset built by assistant.training.lora.data (resumable)."""
    from dataclasses import fields

    inputs = {"datos": args.data, "configuración": args.config}
    check_output_path(args.out, "--out", inputs, folder=True)
    from assistant.training.lora.config import LoraTrainConfig
    from assistant.training.lora.train import train_lora

    overrides = {}
    if args.config:
        stored = json.loads(Path(args.config).read_text(encoding="utf-8"))
        stored = stored.get("config", stored)
        known = {f.name for f in fields(LoraTrainConfig)}
        overrides = {key: value for key, value in stored.items() if key in known}
        for key in ("target_modules",):
            if isinstance(overrides.get(key), list):
                overrides[key] = tuple(overrides[key])
    summary = train_lora(
        args.base,
        Path(args.data),
        Path(args.out),
        LoraTrainConfig(**overrides),
        resume=not args.no_resume,
    )
    _print_json(summary)
    return 0


def cmd_prepare_models(args) -> int:
    """Dequantize the bundled GGUF models once into the cache (part of the setup step)."""
    from assistant.generators.model_cache import prepare_model

    for name in args.models:
        print(f"{name}: {prepare_model(name)}")
    return 0


def cmd_export_gguf(args) -> int:
    """The model with its adapter merged, as one GGUF file for llama.cpp / Ollama."""
    from assistant.training.gguf_export import describe, export_gguf

    print(f"Exportando a {args.out} ({args.type})…", file=sys.stderr, flush=True)
    # A `kill` is an interruption too: the partial file and the scratch copy are removed
    # (a kill -9 leaves them to the next export, which removes them first).
    signal.signal(signal.SIGTERM, _interrupted)
    written = export_gguf(Path(args.out), args.adapter, args.type, force=args.force)
    print(f"Escrito {describe(written)}")
    return 0


def _interrupted(signum, frame) -> None:
    raise KeyboardInterrupt


def _question(text: str) -> str:
    from assistant.answer import require_question

    return require_question(_repair_encoding(text))


def _repair_encoding(text: str) -> str:
    """A question typed in a Latin-1 terminal arrives as invalid UTF-8, which Python keeps
    as surrogate escapes that no print can encode; its bytes are read as Windows-1252
    (Latin-1's superset) instead: "¿Qué?" typed there comes out right."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    return text.encode("utf-8", "surrogateescape").decode("cp1252", "replace")


def check_options(args) -> None:
    """Every option the command has, checked by the config that will take it, before any
    note is read or model loaded: a bad --strategy or --passages used to surface after
    ~25 s of loading. Raises SettingsError (or AdapterError) naming the option."""
    for flag in ("k", "limit", "passages", "chunk_size"):
        value = getattr(args, flag, None)
        if value is not None and value < 1:
            raise SettingsError(f"--{flag.replace('_', '-')} debe ser al menos 1, no {value}")
    if getattr(args, "strategy", None) is not None:
        from assistant.answer import AssistantConfig
        from assistant.generators.adapters import adapter_for, resolve_adapter
        from assistant.generators.openai_backend import check_served_options, is_served
        from assistant.prompts import parse_strategy

        AssistantConfig(strategy=args.strategy, passages=args.passages)
        served = is_served(args.model)
        if args.base_url and not served:
            raise SettingsError("--base-url solo vale con --model openai:NOMBRE")
        if parse_strategy(args.strategy).generates and served:
            check_served_options(
                args.model, adapter_for(args.model, args.adapter), args.precision, args.base_url
            )
        elif parse_strategy(args.strategy).generates:
            resolve_adapter(adapter_for(args.model, args.adapter))
    if getattr(args, "max_new_tokens", None) is not None:
        from assistant.generators.base import GenerationConfig

        GenerationConfig(max_new_tokens=args.max_new_tokens, temperature=args.temperature)
    _chunk_config(args)
    if getattr(args, "command", None) == "export-gguf":
        from assistant.generators.adapters import adapter_for, resolve_adapter
        from assistant.training.gguf_export import MODEL, check_export_options

        check_export_options(Path(args.out), args.type, args.force)
        resolve_adapter(adapter_for(MODEL, args.adapter))
    if getattr(args, "command", None) == "experiment":
        from assistant.prompts import parse_strategy
        from eval.experiment.grid import parse_model, parse_seeds, split_list

        for name in split_list(args.strategies):
            parse_strategy(name)
        for spec in split_list(args.models):
            parse_model(spec)
        parse_seeds(args.seeds)


# The options of every command that answers questions (ask, chat).
ANSWERING = (
    "strategy",
    "model",
    "base_url",
    "adapter",
    "passages",
    "precision",
    "max_new_tokens",
    "temperature",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m assistant", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    index = commands.add_parser("index", help="indexa una carpeta de notas")
    index.add_argument("--notes")
    index.add_argument("--index")
    add_notebook_option(index, needs=("notes", "index"))
    add_options(index, "embedder")
    index.add_argument("--chunk-size", type=int)
    index.add_argument("--chunk-overlap", type=int)
    index.add_argument(
        "--ocr",
        action=argparse.BooleanOptionalAction,
        help="lee el texto de las imágenes PNG y JPEG de las notas (por defecto sí; "
        "--no-ocr indexa sin leerlas)",
    )
    index.add_argument("--json", action="store_true")
    index.set_defaults(func=cmd_index)

    search = commands.add_parser("search", help="busca pasajes en un índice")
    search.add_argument("--index")
    add_notebook_option(search, needs=("index",))
    add_options(search, "k", "retriever")
    search.add_argument("--json", action="store_true")
    search.add_argument("question")
    search.set_defaults(func=cmd_search)

    evaluate = commands.add_parser("eval", help="evalúa sobre un archivo de preguntas")
    kinds = evaluate.add_subparsers(dest="kind", required=True)
    retrieval = kinds.add_parser("retrieval")
    retrieval.add_argument("--notes")
    retrieval.add_argument("--questions", required=True)
    retrieval.add_argument("--index", help="carpeta del índice (por defecto, una en la caché)")
    add_notebook_option(retrieval, needs=("notes",))
    add_options(retrieval, "k", "retriever")
    retrieval.add_argument("--json", action="store_true")
    retrieval.set_defaults(func=cmd_eval_retrieval)

    ask = commands.add_parser("ask", help="responde una pregunta con citas de tus notas")
    ask.add_argument("--index", help="carpeta del índice (por defecto, la de --notes en la caché)")
    ask.add_argument("--notes", help="carpeta de notas: se reindexa antes de responder")
    add_notebook_option(ask, everywhere=True)
    add_options(ask, *ANSWERING)
    ask.add_argument("--json", action="store_true")
    ask.add_argument("question")
    ask.set_defaults(func=cmd_ask)

    answers = kinds.add_parser("answers")
    answers.add_argument("--notes")
    answers.add_argument("--questions", required=True)
    answers.add_argument("--index")
    add_notebook_option(answers, needs=("notes",))
    add_options(answers, "strategy", "model", "base_url", "adapter", "passages")
    answers.add_argument(
        "--limit", type=int, help="evalúa solo N preguntas (proporción de cada tipo)"
    )
    answers.add_argument("--log", help="guarda cada pregunta, prompt y respuesta en este JSONL")
    rewrite = answers.add_mutually_exclusive_group()
    rewrite.add_argument("--force", action="store_true", help="reemplaza un --log que ya existe")
    rewrite.add_argument("--append", action="store_true", help="añade al final de un --log")
    add_options(answers, "precision")
    answers.add_argument("--json", action="store_true")
    answers.set_defaults(func=cmd_eval_answers)

    experiment = commands.add_parser(
        "experiment", help="compara estrategias y modelos (media ± error estándar)"
    )
    experiment.add_argument("--questions", required=True)
    experiment.add_argument(
        "--strategies",
        default="zero-shot,few-shot:1,few-shot:3,cot",
        help="separadas por comas: zero-shot, few-shot[:k], cot[:k]",
    )
    experiment.add_argument(
        "--models",
        default=ChatSettings.model,
        help="separados por comas; nombre+lora usa el adaptador entrenado",
    )
    experiment.add_argument("--seeds", default="0", help="separadas por comas, p. ej. 0,1,2")
    experiment.add_argument("--limit", type=int, help="solo N preguntas (proporción de cada tipo)")
    experiment.add_argument("--out", required=True, help="carpeta de resultados (se reanuda)")
    experiment.add_argument("--notes")
    experiment.add_argument("--index")
    add_notebook_option(experiment, default_notes=True)
    add_options(experiment, "precision")
    experiment.set_defaults(func=cmd_experiment)

    train = commands.add_parser("train-lora", help="entrena un adaptador LoRA")
    train.add_argument("--base", default="gemma-270m")
    train.add_argument("--data", default="eval/data/lora_train.jsonl")
    train.add_argument("--out", required=True)
    train.add_argument("--config", help="JSON con campos de LoraTrainConfig")
    train.add_argument("--no-resume", action="store_true")
    train.set_defaults(func=cmd_train_lora)

    prepare = commands.add_parser("prepare-models", help="prepara los modelos (una sola vez)")
    prepare.add_argument("models", nargs="*", default=list(MODELS))
    prepare.set_defaults(func=cmd_prepare_models)

    export = commands.add_parser(
        "export-gguf", help="exporta Gemma 3 270M con el adaptador fusionado a un GGUF"
    )
    export.add_argument("--out", required=True, help="archivo .gguf nuevo")
    add_options(export, "adapter")
    export.add_argument("--type", default="f16", choices=("f16", "q8_0"))
    export.add_argument("--force", action="store_true", help="reemplaza --out si ya existe")
    export.set_defaults(func=cmd_export_gguf)

    chat = commands.add_parser("chat", help="pregunta a tus notas en la terminal")
    chat.add_argument("--notes")
    chat.add_argument("--index")
    add_notebook_option(chat, default_notes=True, everywhere=True)
    add_options(chat, *ANSWERING)
    chat.set_defaults(func=cmd_chat)
    add_study_parsers(commands)  # cards build|list|review|due|export|stats|restore, study
    add_notebook_parsers(commands)  # notebooks list|add|rename|remove
    return parser


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    """--verbose on every command (each leaf of the subcommand tree)."""
    leaves = [
        sub
        for action in parser._actions  # argparse keeps subparsers only here
        if isinstance(action, argparse._SubParsersAction)
        for sub in dict.fromkeys(action.choices.values())
    ]
    if not leaves:
        parser.add_argument(
            "--verbose",
            action="store_true",
            help="muestra las barras de progreso y los avisos de las bibliotecas",
        )
    for sub in leaves:
        _add_verbose(sub)


def quiet_libraries() -> None:
    """Keep the libraries' progress bars ("Loading weights") and their deprecation
    warnings out of a student's terminal; --verbose shows them."""
    import os
    import warnings

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # read when hub loads
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    for category in (FutureWarning, DeprecationWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category)
    if "huggingface_hub" in sys.modules:  # already loaded: its switch, not the variable
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        transformers_logging.set_verbosity_error()


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.ERROR, format="%(message)s")
    parser = build_parser()
    _add_verbose(parser)
    args = parser.parse_args(argv)
    if not args.verbose:
        quiet_libraries()
    try:
        apply_notebook(args)
        everywhere = getattr(args, "everywhere", False)
        if (
            not everywhere
            and getattr(args, "index", "") is None
            and getattr(args, "notes", "") is None
        ):
            raise SettingsError("indica --index, --notes o --notebook NOMBRE")
        check_options(args)
        return args.func(args)
    except AssistantError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrumpido", file=sys.stderr)
        return 130
