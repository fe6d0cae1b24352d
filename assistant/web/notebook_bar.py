"""The notebook selector at the top of the page, and the box that creates, renames and
removes notebooks (corpus/notebooks.py); app.py wires them to the callbacks."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr


@dataclass
class NotebookBar:
    """The notebook selector at the top, and the box that creates, renames and removes."""

    selector: gr.Dropdown
    status: gr.Markdown
    folder: gr.Textbox
    name: gr.Textbox
    create: gr.Button
    new_name: gr.Textbox
    rename: gr.Button
    remove: gr.Button


def notebook_bar() -> NotebookBar:
    with gr.Row(elem_id="notebook-bar"):
        selector = gr.Dropdown(
            [], label="Cuaderno", elem_id="notebook", scale=1, allow_custom_value=True
        )
        status = gr.Markdown(elem_id="notebook-status")
    with gr.Accordion("Cuadernos: crear, renombrar, quitar", open=False, elem_id="notebooks"):
        with gr.Row():
            folder = gr.Textbox(
                label="Carpeta de notas o bóveda de Obsidian (ruta en este ordenador)",
                placeholder="~/apuntes/historia",
                elem_id="notebook-folder",
                scale=3,
            )
            name = gr.Textbox(
                label="Nombre (por defecto, el de la carpeta)", elem_id="notebook-name", scale=2
            )
            create = gr.Button("Crear y abrir", variant="primary", elem_id="notebook-create")
        with gr.Row():
            new_name = gr.Textbox(
                label="Nuevo nombre del cuaderno abierto", elem_id="notebook-new-name"
            )
            rename = gr.Button("Renombrar", elem_id="notebook-rename")
            remove = gr.Button(
                "Quitar de la lista (la carpeta no se toca)",
                variant="stop",
                elem_id="notebook-remove",
            )
    return NotebookBar(selector, status, folder, name, create, new_name, rename, remove)
