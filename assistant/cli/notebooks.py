"""``python -m assistant notebooks list|add|rename|remove``, and ``--notebook NAME`` on
every command that takes ``--notes``, ``--index`` or ``--deck`` (corpus/notebooks.py).

``--notebook NAME`` stands for the notebook's notes folder, its index and its deck, so it
is refused beside any of the three (which one would win is a guess).
"""

from __future__ import annotations

import argparse
import json
import sys

from corpus.errors import SettingsError
from corpus.notebooks import ALL_SCOPE, DEFAULT_NOTES, Notebooks

PATH_FLAGS = ("notes", "index", "deck")


def add_notebook_option(
    parser: argparse.ArgumentParser,
    needs: tuple[str, ...] = (),
    default_notes: bool = False,
    everywhere: bool = False,
) -> None:
    """--notebook on a command with --notes/--index/--deck; ``needs``: the flags the
    command cannot do without unless --notebook names them; ``default_notes``: --notes is
    the default notebook's folder when neither is given; ``everywhere``: the command
    answers from every notebook with --notebook todas."""
    scope = f"; {ALL_SCOPE}: busca en todos" if everywhere else ""
    parser.add_argument(
        "--notebook",
        metavar="NOMBRE",
        help="el cuaderno NOMBRE: sus notas, su índice y su mazo "
        f"(python -m assistant notebooks list){scope}",
    )
    parser.set_defaults(
        needs=needs, default_notes=default_notes, everywhere=False, allows_all=everywhere
    )


def apply_notebook(args: argparse.Namespace) -> None:
    """Fill --notes/--index/--deck from --notebook; SettingsError when both are given, or
    when a flag the command needs is missing."""
    flags = [flag for flag in PATH_FLAGS if hasattr(args, flag)]
    if name := getattr(args, "notebook", None):
        given = [f"--{flag}" for flag in flags if getattr(args, flag) is not None]
        if given:
            raise SettingsError(
                f"--notebook ya indica las notas, el índice y el mazo: quita {', '.join(given)}"
            )
        if name.strip().casefold() == ALL_SCOPE:
            if not getattr(args, "allows_all", False):
                raise SettingsError(f"--notebook {ALL_SCOPE} solo vale para ask y chat")
            args.everywhere = True
            return
        notebook = Notebooks().get(name)
        paths = {
            "notes": notebook.notes_dir,
            "index": notebook.index_dir,
            "deck": notebook.deck_path,
        }
        for flag in flags:
            setattr(args, flag, str(paths[flag]))
    if getattr(args, "default_notes", False) and args.notes is None:
        args.notes = str(DEFAULT_NOTES)
    for flag in getattr(args, "needs", ()):
        if getattr(args, flag, None) is None:
            raise SettingsError(f"indica --{flag} o --notebook NOMBRE")


def everything_index():
    """One index over every notebook (``--notebook todas``): each notebook's folder
    indexed first (only changed notes embedded); one that cannot be is a warning, left
    out."""
    from index.merged import open_notebooks

    merged, left_out, warnings = open_notebooks(Notebooks().all())
    for line in [*left_out, *warnings]:
        print(f"aviso: {line}", file=sys.stderr)
    return merged


def cmd_list(args: argparse.Namespace) -> int:
    notebooks = Notebooks().all()
    if args.json:
        rows = [
            {
                "name": nb.name,
                "notes": str(nb.notes_dir),
                "index": str(nb.index_dir),
                "deck": str(nb.deck_path),
                "exists": nb.notes_dir.is_dir(),
            }
            for nb in notebooks
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for nb in notebooks:
        missing = "" if nb.notes_dir.is_dir() else "  (la carpeta no existe)"
        print(f"{nb.name}\t{nb.notes_dir}{missing}")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    notebook = Notebooks().add(args.name, args.folder)
    print(
        f"Cuaderno {notebook.name!r} creado con las notas de {notebook.notes_dir}; "
        f"indéxalo con: python -m assistant index --notebook {_quoted(notebook.name)}"
    )
    return 0


def cmd_rename(args: argparse.Namespace) -> int:
    notebook = Notebooks().rename(args.name, args.new_name)
    print(f"Cuaderno {args.name!r} renombrado a {notebook.name!r}.")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    notebook = Notebooks().remove(args.name)
    print(
        f"Cuaderno {notebook.name!r} quitado. Sus notas siguen en {notebook.notes_dir} "
        "(no se ha borrado nada)."
    )
    return 0


def _quoted(name: str) -> str:
    return f'"{name}"' if " " in name else name


def add_parsers(commands) -> None:
    notebooks = commands.add_parser(
        "notebooks", help="cuadernos: una carpeta de notas por asignatura"
    )
    actions = notebooks.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="lista los cuadernos y sus carpetas")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_list)
    add = actions.add_parser("add", help="crea un cuaderno con una carpeta de notas")
    add.add_argument("name", help="nombre del cuaderno")
    add.add_argument("folder", help="carpeta de notas (o una bóveda de Obsidian)")
    add.set_defaults(func=cmd_add)
    rename = actions.add_parser("rename", help="renombra un cuaderno")
    rename.add_argument("name")
    rename.add_argument("new_name")
    rename.set_defaults(func=cmd_rename)
    remove = actions.add_parser(
        "remove", help="quita un cuaderno de la lista (su carpeta de notas no se toca)"
    )
    remove.add_argument("name")
    remove.set_defaults(func=cmd_remove)
