"""The ``cards`` and ``study`` subcommands: argparse registration and one function per
subcommand (Namespace in, exit code out). assistant/cli/main.py registers them with
``add_parsers(commands)`` and turns every AssistantError into ``error: ...`` and exit 2.

Options are checked before the notes are read or the deck is opened: a bad rating or an
export path over an input fails at once, with one Spanish line.

The daily new-card limit and the desired retention live in the deck (its scheduler
settings), where the app's study tab reads and writes them too: ``--new-per-day`` and
``--retention`` change them for every later session, not just this one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.cli.cards_browse import add_browse_parsers
from assistant.cli.notebooks import add_notebook_option
from assistant.study.schedule import (
    RATING_KEYS,
    RATING_LABELS,
    interval_text,
    parse_rating,
    preview,
    utc_now,
)
from assistant.study.storage import check_deck_path
from corpus.errors import SettingsError
from corpus.notebooks import DEFAULT_NOTES
from corpus.paths import default_deck_path

if TYPE_CHECKING:  # the deck pulls in the chunker (langchain): imported when a command runs
    from assistant.study.deck import Deck
    from assistant.study.records import DeckCard


def _print_json(payload) -> None:
    print(json.dumps(payload, ensure_ascii=False, indent=2))


def _deck_path(args: argparse.Namespace) -> Path:
    """--deck, else the notes folder's deck in the cache; never inside the notes folder."""
    notes = Path(args.notes) if args.notes else DEFAULT_NOTES
    deck = Path(args.deck).expanduser() if args.deck else default_deck_path(notes)
    check_deck_path(deck, notes)
    return deck


def _positive(value: int | None, flag: str) -> None:
    if value is not None and value < 1:
        raise SettingsError(f"{flag} debe ser al menos 1, no {value}")


def _new_per_day(value: int | None) -> None:
    if value is not None and value < 0:
        raise SettingsError(f"--new-per-day debe ser 0 o más, no {value}")


def _retention(value: float | None) -> None:
    if value is not None and not 0.0 < value < 1.0:
        raise SettingsError(f"--retention debe estar entre 0 y 1 (sin incluirlos), no {value}")


def _configure(deck: Deck, args: argparse.Namespace) -> None:
    """Store the options' scheduling settings in the deck (those given)."""
    changes = {
        "new_per_day": getattr(args, "new_per_day", None),
        "desired_retention": getattr(args, "retention", None),
    }
    deck.configure(**{name: value for name, value in changes.items() if value is not None})


def _when(row: DeckCard) -> str:
    return row.state.due.astimezone().strftime("%Y-%m-%d %H:%M")


def _print_rows(rows: list[DeckCard]) -> None:
    for row in rows:
        print(f"{row.card.id}  {row.card.kind:<10} {row.status:<10} {_when(row)}  {row.card.front}")


# -- cards -------------------------------------------------------------------------------


def cmd_cards_build(args: argparse.Namespace) -> int:
    from assistant.study.cards import build_cards
    from corpus.loader import load_notes

    notes = Path(args.notes)
    deck_path = _deck_path(args)
    _retention(args.retention)
    _new_per_day(args.new_per_day)
    loaded = load_notes(notes)
    for warning in loaded.warnings:
        print(f"aviso: {warning}", file=sys.stderr)
    cards = build_cards(loaded.notes)
    from assistant.study.deck import Deck

    with Deck.open(deck_path, create=True, notes_dir=notes) as deck:
        _configure(deck, args)  # the other FSRS settings stay as stored
        report = deck.sync(cards, sources=[note.source for note in loaded.notes])
    if args.json:
        _print_json(report.to_dict())
    else:
        print(
            f"Mazo {deck_path}: {report.cards} tarjetas ({report.new} nuevas, "
            f"{report.updated} actualizadas, {report.retired} retiradas)"
        )
    return 0


def cmd_cards_list(args: argparse.Namespace) -> int:
    from assistant.study.deck import Deck

    with Deck.open(_deck_path(args)) as deck:
        rows = deck.cards(include_retired=args.all)
    if args.json:
        _print_json([row.to_json() for row in rows])
    else:
        _print_rows(rows)
    return 0


def cmd_cards_due(args: argparse.Namespace) -> int:
    _positive(args.limit, "--limit")
    _new_per_day(args.new_per_day)
    from assistant.study.deck import Deck

    with Deck.open(_deck_path(args)) as deck:
        _configure(deck, args)
        rows = deck.due(limit=args.limit)
    if args.json:
        _print_json([row.to_json() for row in rows])
    elif rows:
        _print_rows(rows)
    else:
        print("No hay tarjetas pendientes.")
    return 0


def _review_json(row: DeckCard) -> dict:
    return {
        "id": row.card.id,
        "due": row.state.due.isoformat(timespec="seconds"),
        "stability": row.state.stability,
        "difficulty": row.state.difficulty,
        "state": row.status,
    }


def cmd_cards_review(args: argparse.Namespace) -> int:
    rating = parse_rating(args.rating)
    from assistant.study.deck import Deck

    with Deck.open(_deck_path(args)) as deck:
        row = deck.review(args.card, rating)
    if args.json:
        _print_json(_review_json(row))
    else:
        print(f"Tarjeta {row.card.id}: próxima revisión {_when(row)} ({row.status})")
    return 0


def cmd_cards_undo(args: argparse.Namespace) -> int:
    from assistant.study.deck import Deck

    with Deck.open(_deck_path(args)) as deck:
        row = deck.undo(args.card)
    if args.json:
        _print_json(_review_json(row))
    else:
        print(
            f"Deshecho el último repaso de {row.card.id} ({row.card.front}): vuelve a estar "
            f"{row.status}, pendiente {_when(row)}"
        )
    return 0


def cmd_cards_export(args: argparse.Namespace) -> int:
    from assistant.study.export import check_output, export_deck, write_csv

    deck_path = _deck_path(args)
    out, suffix = (Path(args.anki), ".apkg") if args.anki else (Path(args.csv), ".csv")
    inputs = [deck_path, Path(args.notes) if args.notes else DEFAULT_NOTES]
    check_output(out, suffix, inputs)
    from assistant.study.deck import Deck

    with Deck.open(deck_path) as deck:
        if deck.meta("notes_dir"):
            inputs.append(Path(deck.meta("notes_dir")))
        if args.anki:  # with each card's schedule and review history
            written = export_deck(deck, out, inputs=inputs)
        else:
            written = write_csv([row.card for row in deck.cards()], out, inputs)
    if args.json:
        _print_json({"cards": written, "out": str(out)})
    else:
        print(f"Exportadas {written} tarjetas a {out}")
    return 0


def cmd_cards_import(args: argparse.Namespace) -> int:
    from assistant.study.anki_import import check_package, import_anki

    package = check_package(args.anki)
    from assistant.study.deck import Deck

    with Deck.open(_deck_path(args)) as deck:
        report = import_anki(deck, package)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(report.summary())
    return 0


def cmd_cards_stats(args: argparse.Namespace) -> int:
    from assistant.study.export import check_output
    from assistant.study.stats import deck_stats, plot_reviews_per_day

    deck_path = _deck_path(args)
    if args.plot:
        check_output(Path(args.plot), ".png", [deck_path])
    from assistant.study.deck import Deck

    with Deck.open(deck_path) as deck:
        stats = deck_stats(deck)
    if args.plot:
        plot_reviews_per_day(stats, Path(args.plot))
    if args.json:
        _print_json(stats)
    else:
        print(
            f"{stats['cards']} tarjetas: {stats['due_today']} pendientes hoy, "
            f"{stats['due_this_week']} esta semana; {stats['reviews']} repasos"
        )
        for source, note in stats["retention_by_note"].items():
            share = "—" if note["retention"] is None else f"{note['retention']:.0%}"
            print(f"  {source}: retención {share} ({note['reviews']} repasos)")
    return 0


def cmd_cards_restore(args: argparse.Namespace) -> int:
    from assistant.study.storage import restore_backup

    restored = restore_backup(_deck_path(args))
    print(f"Mazo {restored} restaurado desde su última copia buena")
    return 0


# -- study -------------------------------------------------------------------------------

_HELP_LINE = (
    "Enter muestra la respuesta; luego valora con "
    + ", ".join(f"{key} {RATING_LABELS[name]}" for key, name in RATING_KEYS.items())
    + ". d deshace la valoración anterior. Enter vacío o Ctrl-D para salir."
)
_CHOICE_HELP_LINE = (
    "Elige la respuesta por su número; luego valora con 1-4 (Enter acepta la valoración "
    "propuesta). d deshace la valoración anterior. q o Ctrl-D para salir."
)
QUIT = ("q", "salir")
UNDO = ("d", "deshacer")
_UNDO_PICK = -1  # _read_option's answer for "d"
RATING_KEY = {name: key for key, name in RATING_KEYS.items()}


def run_study(
    deck: Deck,
    limit: int | None = None,
    read: Callable[[str], str] = input,
    write: Callable[[str], None] = print,
    choices: bool = False,
) -> int:
    """The terminal review loop; returns how many ratings were given (and not undone).

    The cards come as the app's tab takes them (``Deck.next_card``: due cards, new ones
    up to the day's limit, a learning step that falls due within minutes), until none is
    left, ``limit`` are rated, or the student stops. Front, Enter, back and source, then
    the four ratings with the interval each gives, and a rating 1-4; empty input or EOF
    stops (every rating is already saved). "d" at the next front takes the last rating
    back (``Deck.undo``) and shows that card again. With ``choices``, the front comes
    with numbered options (quiz.multiple_choice); the pick is checked and its rating
    proposed (Enter accepts it); a card with no options is shown as a plain card."""
    from assistant.study.quiz import QuizError, choice_rating, multiple_choice

    row = deck.next_card()
    if row is None:
        write("No hay tarjetas pendientes. ¡Vuelve más tarde!")
        return 0
    pool = [row.card for row in deck.cards()] if choices else []
    pending = len(deck.due())
    write(f"{pending} tarjetas pendientes. {_CHOICE_HELP_LINE if choices else _HELP_LINE}")
    rated: list[str] = []  # the ids rated in this run, oldest first: what "d" takes back
    try:
        while row is not None and (limit is None or len(rated) < limit):
            card = row.card
            shown = time.monotonic()
            write(f"\n[{len(rated) + 1}] {card.front}")
            proposal = None
            try:
                choice = multiple_choice(card, pool) if choices else None
            except QuizError:
                choice = None
                write("(Esta tarjeta no tiene opciones: piensa la respuesta.)")
            if choice is None:
                reply = read("(Enter: ver la respuesta) ").strip().lower()
                if reply in QUIT:
                    break
                if reply in UNDO:
                    row = _undo(deck, rated, write) or row
                    continue
                write(card.back)
            else:
                for key, option in enumerate(choice.options, 1):
                    write(f"  {key}) {option}")
                picked = _read_option(read, write, len(choice.options))
                if picked is None:
                    break
                if picked == _UNDO_PICK:
                    row = _undo(deck, rated, write) or row
                    continue
                proposal = choice_rating(choice, picked)
                right = picked == choice.answer
                verdict = (
                    "✓ Correcto." if right else f"✗ No: la respuesta es la {choice.answer + 1}."
                )
                write(f"{verdict} {card.back}")
            write(f"Fuente: {card.source} — {card.heading}" if card.heading else card.source)
            write(_intervals_line(preview(row.state, utc_now(), deck.config)))
            rating = _read_rating(read, write, proposal)
            if rating is None:
                break
            duration_ms = int((time.monotonic() - shown) * 1000)
            updated = deck.review(card.id, rating, duration_ms=duration_ms)
            rated.append(card.id)
            write(f"{RATING_LABELS[rating]}: próxima revisión {_when(updated)}")
            row = deck.next_card()
        if row is None:
            write("\nNo quedan tarjetas pendientes por ahora.")
    except (EOFError, KeyboardInterrupt):
        write("")
    write(f"Repasadas {len(rated)} tarjetas.")
    return len(rated)


def _intervals_line(intervals: dict) -> str:
    """ "1 otra vez: 1 min · 2 difícil: 6 min · 3 bien: 10 min · 4 fácil: 3 d"."""
    return " · ".join(
        f"{key} {RATING_LABELS[name]}: {interval_text(intervals[name])}"
        for key, name in RATING_KEYS.items()
    )


def _undo(deck: Deck, rated: list[str], write: Callable[[str], None]) -> DeckCard | None:
    """Take back this run's last rating; the card to show again (None: nothing to undo)."""
    if not rated:
        write("No hay ninguna valoración de esta sesión que deshacer.")
        return None
    row = deck.undo(rated.pop())
    write(f"Deshecha la última valoración: «{row.card.front}» vuelve a salir.")
    return row


def _read_option(read: Callable[[str], str], write: Callable[[str], None], count: int):
    """The option's index (0-based), _UNDO_PICK for "d", or None to stop."""
    while True:
        answer = read(f"Tu respuesta (1-{count}): ").strip().lower()
        if not answer or answer in QUIT:
            return None
        if answer in UNDO:
            return _UNDO_PICK
        if answer.isdigit() and 1 <= int(answer) <= count:
            return int(answer) - 1
        write(f"Escribe un número del 1 al {count} (o q para salir).")


def _read_rating(read: Callable[[str], str], write: Callable[[str], None], proposal=None):
    """A rating name, or None to stop: empty input stops, or accepts ``proposal``."""
    if proposal is None:
        prompt, retry = "Valoración 1-4: ", "Escribe 1, 2, 3 o 4 (o Enter para salir)."
    else:
        key = RATING_KEY[proposal]
        prompt = f"Valoración 1-4 (Enter: {key} {RATING_LABELS[proposal]}): "
        retry = "Escribe 1, 2, 3 o 4, Enter para aceptar la propuesta, o q para salir."
    while True:
        answer = read(prompt).strip()
        if answer.lower() in QUIT or (not answer and proposal is None):
            return None
        if not answer:
            return proposal
        try:
            return parse_rating(answer)
        except SettingsError:
            write(retry)


def cmd_study(args: argparse.Namespace) -> int:
    _positive(args.limit, "--limit")
    _new_per_day(args.new_per_day)
    from assistant.study.deck import Deck

    with Deck.open(_deck_path(args)) as deck:
        _configure(deck, args)
        run_study(deck, args.limit, choices=args.choices)
    return 0


# -- registration ------------------------------------------------------------------------


def _deck_options(parser: argparse.ArgumentParser, default_notes: bool = False) -> None:
    parser.add_argument(
        "--deck", help="archivo del mazo (.sqlite; por defecto, el de --notes en la caché)"
    )
    parser.add_argument(
        "--notes", help=f"carpeta de notas (por defecto, {DEFAULT_NOTES.name}/ del proyecto)"
    )
    add_notebook_option(parser, default_notes=default_notes)


def _new_per_day_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--new-per-day",
        type=int,
        metavar="N",
        help="tarjetas nuevas al día, en el orden de las notas (por defecto 20); se guarda "
        "en el mazo y vale también para la app",
    )


def add_cards_parser(subparsers) -> argparse.ArgumentParser:
    """``cards build|list|due|review|undo|export|import|stats|restore``."""
    cards = subparsers.add_parser("cards", help="tarjetas de estudio hechas con tus notas")
    actions = cards.add_subparsers(dest="cards_command", required=True)

    build = actions.add_parser("build", help="crea o actualiza el mazo desde las notas")
    _deck_options(build, default_notes=True)
    build.add_argument(
        "--retention",
        type=float,
        help="retención deseada de FSRS, entre 0 y 1 (por defecto 0.9; más alta: más "
        "repasos, menos olvidos); se guarda en el mazo y vale también para la app",
    )
    _new_per_day_option(build)
    build.add_argument("--json", action="store_true")
    build.set_defaults(func=cmd_cards_build)

    listing = actions.add_parser("list", help="lista las tarjetas del mazo")
    _deck_options(listing)
    listing.add_argument("--all", action="store_true", help="incluye las retiradas")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_cards_list)

    due = actions.add_parser(
        "due", help="las tarjetas pendientes ahora (las nuevas, hasta el límite del día)"
    )
    _deck_options(due)
    due.add_argument("--limit", type=int)
    _new_per_day_option(due)
    due.add_argument("--json", action="store_true")
    due.set_defaults(func=cmd_cards_due)

    review = actions.add_parser("review", help="valora una tarjeta")
    _deck_options(review)
    review.add_argument("--card", required=True, help="id de la tarjeta (ver `cards list`)")
    review.add_argument("--rating", required=True, help="again, hard, good o easy (o 1-4)")
    review.add_argument("--json", action="store_true")
    review.set_defaults(func=cmd_cards_review)

    undo = actions.add_parser(
        "undo", help="deshace el último repaso: la tarjeta vuelve al estado de antes"
    )
    _deck_options(undo)
    undo.add_argument("--card", help="el último repaso de esta tarjeta (por defecto, del mazo)")
    undo.add_argument("--json", action="store_true")
    undo.set_defaults(func=cmd_cards_undo)

    export = actions.add_parser("export", help="exporta a Anki (.apkg) o CSV")
    _deck_options(export)
    target = export.add_mutually_exclusive_group(required=True)
    target.add_argument("--anki", help="paquete .apkg de Anki")
    target.add_argument("--csv", help="CSV para importar en Anki")
    export.add_argument("--json", action="store_true")
    export.set_defaults(func=cmd_cards_export)

    anki_import = actions.add_parser(
        "import", help="trae los repasos hechos en Anki o AnkiDroid (.apkg o .colpkg)"
    )
    _deck_options(anki_import)
    anki_import.add_argument(
        "--anki",
        required=True,
        help="paquete exportado desde Anki con la programación (.apkg) o colección (.colpkg)",
    )
    anki_import.add_argument("--json", action="store_true")
    anki_import.set_defaults(func=cmd_cards_import)

    stats = actions.add_parser("stats", help="pendientes, repasos por día, retención")
    _deck_options(stats)
    stats.add_argument("--plot", help="guarda un PNG de repasos por día")
    stats.add_argument("--json", action="store_true")
    stats.set_defaults(func=cmd_cards_stats)

    restore = actions.add_parser("restore", help="recupera la última copia buena del mazo")
    _deck_options(restore)
    restore.set_defaults(func=cmd_cards_restore)
    add_browse_parsers(actions, _deck_options)  # find|edit|suspend|resume|delete|undelete|add
    return cards


def add_study_parser(subparsers) -> argparse.ArgumentParser:
    """``study``: the terminal review loop."""
    study = subparsers.add_parser("study", help="repasa las tarjetas pendientes en la terminal")
    _deck_options(study)
    study.add_argument("--limit", type=int, help="como mucho N tarjetas")
    _new_per_day_option(study)
    study.add_argument(
        "--choices",
        action="store_true",
        help="pregunta tipo test: elige la respuesta entre opciones de otras tarjetas",
    )
    study.set_defaults(func=cmd_study)
    return study


def add_parsers(subparsers) -> None:
    """Both: what assistant/cli/main.py calls."""
    add_cards_parser(subparsers)
    add_study_parser(subparsers)


__all__ = [
    "add_cards_parser",
    "add_parsers",
    "add_study_parser",
    "run_study",
]
