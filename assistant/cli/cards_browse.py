"""The card browser on the command line: ``cards find|edit|suspend|resume|delete|
undelete|add``, the same operations as the study tab's "Tarjetas" (assistant/study/browse.py,
the deck's writes). Registered by assistant/cli/study.py's ``add_cards_parser``. (``cards
restore`` is another thing: the deck put back from its backup.)

    python -m assistant cards find "#rnn nota:teacher"
    python -m assistant cards edit --card ID --back "La respuesta, a mi manera"
    python -m assistant cards find --deleted        # the deleted cards, to bring one back
    python -m assistant cards undelete ID
    python -m assistant cards add --note teacher_forcing.md --section "Ventajas" \\
        --front "¿…?" --back "…"
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from corpus.notebooks import DEFAULT_NOTES

if TYPE_CHECKING:
    from corpus.records import Chunk


def _deck(args: argparse.Namespace):
    from assistant.cli.study import _deck_path  # noqa: PLC0415 (study.py registers this module)
    from assistant.study.deck import Deck

    return Deck.open(_deck_path(args))


def _chunks(args: argparse.Namespace) -> list[Chunk]:
    """The notes' chunks as the default index cuts them: their tags and sections."""
    from corpus.chunking import chunk_notes
    from corpus.loader import load_notes

    return chunk_notes(load_notes(Path(args.notes) if args.notes else DEFAULT_NOTES).notes)


def _say(args: argparse.Namespace, row, line: str) -> int:
    if args.json:
        print(json.dumps({**row.to_json(), "status": row.status}, ensure_ascii=False, indent=2))
    else:
        print(f"{line}: {row.card.id} «{row.card.front}»")
    return 0


def cmd_find(args: argparse.Namespace) -> int:
    from assistant.study.browse import find_cards, status_label, tags_by_note

    tags = tags_by_note(_chunks(args))
    with _deck(args) as deck:
        rows = find_cards(
            deck.cards(include_retired=True), " ".join(args.query), tags, args.deleted
        )
    if args.json:
        payload = [{**row.to_json(), "status": row.status, "edited": row.edited} for row in rows]
        print(json.dumps(payload, ensure_ascii=False, indent=2))
        return 0
    for row in rows:
        print(f"{row.card.id}  {status_label(row):<28} {row.card.source}  {row.card.front}")
    suffix = " borradas (recupera una con `cards undelete ID`)" if args.deleted else ""
    print(f"{len(rows)} tarjetas{suffix}")
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    from assistant.study.browse import BrowseError

    if args.front is None and args.back is None:
        raise BrowseError("Indica --front, --back o los dos")
    with _deck(args) as deck:
        card = deck.get(args.card).card
        front = card.front if args.front is None else args.front
        back = card.back if args.back is None else args.back
        row = deck.edit(args.card, front, back)
    return _say(args, row, "Editada")


def _card_id(args: argparse.Namespace) -> str:
    """The card named as ``ID`` or ``--card ID`` (the same one, if both)."""
    from assistant.study.browse import BrowseError

    given = {name for name in (args.id, args.card) if name}
    if len(given) != 1:
        raise BrowseError(
            "Indica el id de la tarjeta (ver `cards find`)"
            if not given
            else f"Dos ids distintos: {args.id} y {args.card}; indica uno"
        )
    return given.pop()


def _mark(action: str, line: str) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        card_id = _card_id(args)
        with _deck(args) as deck:
            row = getattr(deck, action)(card_id)
        return _say(args, row, line)

    return command


def cmd_add(args: argparse.Namespace) -> int:
    from assistant.study.browse import find_section, manual_card, note_sections

    section = find_section(note_sections(_chunks(args)), args.note, args.section)
    with _deck(args) as deck:
        row = deck.add(manual_card(section, args.front, args.back))
    return _say(args, row, "Añadida")


def add_browse_parsers(actions, deck_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register the browser's subcommands on ``cards``' subparsers."""
    find = actions.add_parser("find", help="busca tarjetas por texto, nota:nombre o #etiqueta")
    deck_options(find)
    find.add_argument("query", nargs="*", help="palabras (vacío: todas)")
    find.add_argument(
        "--deleted", action="store_true", help="solo las borradas, las últimas primero"
    )
    find.add_argument("--json", action="store_true")
    find.set_defaults(func=cmd_find)

    edit = actions.add_parser("edit", help="cambia el frente o el reverso (mismo id e historial)")
    deck_options(edit)
    edit.add_argument("--card", required=True, help="id de la tarjeta (ver `cards find`)")
    edit.add_argument("--front", help="el frente nuevo")
    edit.add_argument("--back", help="el reverso nuevo")
    edit.add_argument("--json", action="store_true")
    edit.set_defaults(func=cmd_edit)

    for action, line, text in (
        ("suspend", "Suspendida", "suspende una tarjeta: no sale hasta reanudarla"),
        ("resume", "Reanudada", "reanuda una tarjeta suspendida"),
        ("delete", "Borrada", "borra una tarjeta (sus repasos quedan en el historial)"),
        ("undelete", "Recuperada", "recupera una tarjeta borrada, con su id y sus repasos"),
    ):
        parser = actions.add_parser(action, help=text)
        deck_options(parser)
        parser.add_argument("id", nargs="?", help="id de la tarjeta (ver `cards find`)")
        parser.add_argument("--card", help="lo mismo que ID")
        parser.add_argument("--json", action="store_true")
        parser.set_defaults(func=_mark(action, line))

    add = actions.add_parser("add", help="añade una tarjeta a mano a una sección de una nota")
    deck_options(add)
    add.add_argument("--note", required=True, help="la nota, como la nombra `cards find`")
    add.add_argument("--section", required=True, help="el título de la sección (A > B)")
    add.add_argument("--front", required=True)
    add.add_argument("--back", required=True)
    add.add_argument("--json", action="store_true")
    add.set_defaults(func=cmd_add)
