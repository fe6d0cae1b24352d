"""Plots and a Markdown report from an experiment's results.json (eval/experiment/grid.py).

- ``metrics.png``: one panel per metric, bars grouped by strategy, one bar per model, error
  bars of one standard error (pooled over seeds).
- ``latency_f1.png``: mean total latency against token F1, one point per (strategy, model),
  both with one-standard-error bars.
- ``report.md``: the run's config, both plots, the tables of mean ± standard error, and
  statements computed from those numbers only (rankings, cells whose seeds cannot differ).
"""

from __future__ import annotations

from pathlib import Path

from corpus.files import atomic_write_text

# Shares in [0, 1], then latencies (shown in seconds).
SHARES = (
    "token_f1",
    "exact_match",
    "rouge_l",
    "citation_precision",
    "citation_recall",
    "supported_share",
    "abstain_unanswerable",
    "abstain_answerable",
)
LATENCIES = ("first_token_ms", "total_ms")
PLOTS_HEADING = "## Gráficos"  # the section holding the image links; not in the app
DESCRIPTIONS = {
    "token_f1": "F1 de palabras contra la respuesta de referencia (preguntas con respuesta; "
    "abstenerse puntúa 0)",
    "exact_match": "coincidencia exacta normalizada (preguntas con respuesta)",
    "rouge_l": "ROUGE-L F (preguntas con respuesta)",
    "citation_precision": "citas cuyo pasaje respalda la frase (respuestas no abstenidas)",
    "citation_recall": "frases respaldadas por los pasajes que citan (respuestas no abstenidas)",
    "supported_share": "parte de las frases de cada respuesta que las notas respaldan "
    "(respuestas no abstenidas)",
    "abstain_unanswerable": "abstenciones en preguntas sin respuesta en las notas (mejor alto)",
    "abstain_answerable": "abstenciones en preguntas con respuesta (mejor bajo)",
    "first_token_ms": "tiempo hasta el primer token, en s",
    "total_ms": "tiempo total por pregunta, en s",
}


def _scale(metric: str) -> float:
    return 1000.0 if metric in LATENCIES else 1.0


# A metric's name as the student reads it (the report and the app's grid); latencies are
# stored in ms and shown in seconds, and the header says so.
LABELS = {
    "token_f1": "F1 de palabras",
    "exact_match": "coincidencia exacta",
    "rouge_l": "ROUGE-L",
    "citation_precision": "precisión de citas",
    "citation_recall": "cobertura de citas",
    "supported_share": "frases respaldadas",
    "abstain_unanswerable": "se abstiene sin respuesta",
    "abstain_answerable": "se abstiene con respuesta",
    "citation_evidence": "cita la evidencia",
    "first_token_ms": "primer token (s)",
    "total_ms": "total (s)",
}


def column_label(metric: str) -> str:
    """A table's header for ``metric`` ("total_ms" -> "total (s)")."""
    return LABELS.get(metric, metric)


def _label(cell: dict) -> str:
    return f"{cell['strategy']} · {cell['model']}"


def _value(cell: dict, metric: str) -> tuple[float | None, float | None]:
    stat = cell["metrics"][metric]
    scale = _scale(metric)
    mean = None if stat["mean"] is None else stat["mean"] / scale
    stderr = None if stat["stderr"] is None else stat["stderr"] / scale
    return mean, stderr


def _fmt(mean: float | None, stderr: float | None, digits: int = 3) -> str:
    if mean is None:
        return "—"
    if stderr is None:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {stderr:.{digits}f}"


def plot_metrics(results: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    strategies = results["config"]["strategies"]
    models = [m["spec"] for m in results["config"]["models"]]
    by_key = {(c["strategy"], c["model"]): c for c in results["cells"]}
    metrics = SHARES + LATENCIES
    columns = 2
    rows = (len(metrics) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(6.5 * columns, 2.8 * rows), squeeze=False)
    width = 0.8 / len(models)
    for ax, metric in zip(axes.flat, metrics):
        for m, model in enumerate(models):
            means, errors = [], []
            for strategy in strategies:
                mean, stderr = _value(by_key[(strategy, model)], metric)
                means.append(float("nan") if mean is None else mean)
                errors.append(0.0 if stderr is None else stderr)
            positions = [i + (m - (len(models) - 1) / 2) * width for i in range(len(strategies))]
            ax.bar(positions, means, width, yerr=errors, capsize=3, label=model)
        ax.set_title(metric, fontsize=10)
        ax.set_xticks(range(len(strategies)), strategies, fontsize=8)
        if metric in SHARES:
            ax.set_ylim(0, 1.05)
        else:
            ax.set_ylabel("s")
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    figure.suptitle("Media ± error estándar (agrupando semillas)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_latency_f1(results: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [m["spec"] for m in results["config"]["models"]]
    markers = "osD^vP*X"
    strategies = results["config"]["strategies"]
    figure, ax = plt.subplots(figsize=(7, 4.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for cell in results["cells"]:
        latency, latency_se = _value(cell, "total_ms")
        f1, f1_se = _value(cell, "token_f1")
        if latency is None or f1 is None:
            continue
        ax.errorbar(
            latency,
            f1,
            xerr=latency_se or 0.0,
            yerr=f1_se or 0.0,
            capsize=3,
            marker=markers[strategies.index(cell["strategy"]) % len(markers)],
            color=colors[models.index(cell["model"]) % len(colors)],
            linestyle="none",
            label=_label(cell),
        )
    ax.set_xlabel("tiempo total medio por pregunta (s)")
    ax.set_ylabel("token F1")
    ax.set_title("Latencia frente a token F1 (media ± error estándar)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")  # color = model, marker = strategy
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _table(results: dict, metrics: tuple[str, ...]) -> list[str]:
    lines = [
        "| estrategia | modelo | " + " | ".join(column_label(m) for m in metrics) + " |",
        "|---|---|" + "---|" * len(metrics),
    ]
    for cell in results["cells"]:
        values = [_fmt(*_value(cell, m), digits=2 if m in LATENCIES else 3) for m in metrics]
        lines.append(f"| {cell['strategy']} | {cell['model']} | " + " | ".join(values) + " |")
    return lines


def _n_table(results: dict) -> list[str]:
    columns = {
        "con respuesta": "token_f1",
        "no abstenidas": "citation_precision",
        "sin respuesta": "abstain_unanswerable",
        "con primer token": "first_token_ms",
    }
    lines = [
        "| estrategia | modelo | " + " | ".join(columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for cell in results["cells"]:
        counts = [str(cell["metrics"][m]["n"]) for m in columns.values()]
        lines.append(f"| {cell['strategy']} | {cell['model']} | " + " | ".join(counts) + " |")
    return lines


def _decoding(config: dict) -> str:
    generation = config["assistant"].get("generation") or {}
    greedy = " (voraz)" if generation.get("temperature") == 0 else ""
    return (
        ", ".join(
            f"{key}={generation[key]}"
            for key in ("max_new_tokens", "temperature", "repetition_penalty")
            if key in generation
        )
        + greedy
    )


# Paths inside the project are shown relative to it: a report reads the same on any clone.
PROJECT = Path(__file__).resolve().parents[2]


def _shown(path: str | None) -> str:
    """A path of the project relative to it; another (a temporary folder, another
    machine's checkout) by its name alone."""
    if path is None:
        return "—"
    if not Path(path).is_absolute():
        return f"`{path}`"
    try:
        return f"`{Path(path).relative_to(PROJECT)}`"
    except ValueError:
        parts = Path(path).parts
        if "assistant" in parts or "eval" in parts or "corpus" in parts:  # another checkout
            root = min(i for i, part in enumerate(parts) if part in ("assistant", "eval", "corpus"))
            return f"`{Path(*parts[root:])}`"
        return f"`…/{Path(path).name}`"


def _model_text(model: dict) -> str:
    return model["spec"] + (f" (adaptador {_shown(model['adapter'])})" if model["adapter"] else "")


def _ranking(results: dict, metric: str, highest_first: bool) -> str:
    ranked = [(c, *_value(c, metric)) for c in results["cells"]]
    ranked = sorted(
        [r for r in ranked if r[1] is not None], key=lambda r: r[1], reverse=highest_first
    )
    digits, unit = (2, " s") if metric in LATENCIES else (3, "")
    return "; ".join(f"{_label(c)} {_fmt(mean, se, digits)}{unit}" for c, mean, se in ranked)


def _beyond(stat: dict) -> str:
    """Whether a paired difference lies more than two standard errors from zero."""
    if stat["mean"] is None or stat["stderr"] is None:
        return "—"
    return "sí" if abs(stat["mean"]) > 2 * stat["stderr"] else "no"


def _paired_section(paired: dict) -> list[str]:
    metric, reference = paired["metric"], paired["reference"]
    lines = [
        f"## Comparaciones emparejadas ({metric})",
        "",
        (
            f"Por pregunta: la media de {metric} sobre las semillas con una estrategia, menos la "
            f"de {reference} con el mismo modelo; media ± error estándar sobre las preguntas. Al "
            "comparar pregunta a pregunta, la dificultad de cada una se cancela, así que este "
            "error suele ser menor que el de restar dos medias de las tablas de arriba."
        ),
        "",
        f"| estrategia | modelo | diferencia frente a {reference} | n | a más de 2 EE de 0 |",
        "|---|---|---|---|---|",
        *[
            f"| {d['strategy']} | {d['model']} | {_fmt(d['mean'], d['stderr'])} | {d['n']} "
            f"| {_beyond(d)} |"
            for d in paired["deltas"]
        ],
        "",
    ]
    if paired["interactions"]:
        lines += [
            (
                f"¿Ayuda una estrategia más a un modelo que a otro? Por pregunta: la diferencia "
                f"frente a {reference} del modelo A menos la del modelo B (positiva: ayuda más "
                "a A)."
            ),
            "",
            "| estrategia | modelo A | modelo B | A − B | n | a más de 2 EE de 0 |",
            "|---|---|---|---|---|---|",
            *[
                f"| {i['strategy']} | {i['model_a']} | {i['model_b']} | "
                f"{_fmt(i['mean'], i['stderr'])} | {i['n']} | {_beyond(i)} |"
                for i in paired["interactions"]
            ],
            "",
        ]
    return lines


def results_table(results: dict) -> tuple[list[str], list[list]]:
    """Headers and one row per (strategy, model) of results.json: each metric as
    "mean ± stderr", in the report's units (latencies in seconds, 2 decimals; rates, 3)."""
    cells = results.get("cells") or []
    metrics = list(cells[0]["metrics"]) if cells else []

    def shown(estimate: dict, metric: str) -> str:
        mean, stderr = estimate.get("mean"), estimate.get("stderr")
        scale = _scale(metric)
        return _fmt(
            None if mean is None else mean / scale,
            None if stderr is None else stderr / scale,
            2 if metric in LATENCIES else 3,
        )

    rows = [
        [
            cell["strategy"],
            cell["model"],
            *(shown(cell["metrics"].get(m, {}), m) for m in metrics),
        ]
        for cell in cells
    ]
    return ["estrategia", "modelo", *(column_label(m) for m in metrics)], rows


def render_report(results: dict, plots: dict[str, Path]) -> str:
    """The report in Markdown; without ``plots`` (the app shows them in a gallery) the
    plots section is left out."""
    config = results["config"]
    seeds = config["seeds"]
    lines = [
        "# Experimento de estrategias de prompting",
        "",
        "## Configuración",
        "",
        f"- Preguntas: {_shown(config['questions'])} ({config['n_questions']} filas: "
        f"{config['n_answerable']} con respuesta, {config['n_unanswerable']} sin respuesta"
        + (f"; `--limit {config['limit']}`" if config["limit"] else "")
        + ")",
        f"- Estrategias: {', '.join(config['strategies'])}",
        f"- Modelos: {', '.join(_model_text(m) for m in config['models'])}",
        f"- Semillas: {', '.join(map(str, seeds))} (cambian qué ejemplos resueltos se eligen)",
        f"- Notas: {_shown(config['notes'])}; índice: {_shown(config['index'])}",
        (
            f"- Precisión: {config['precision']}; pasajes por pregunta: "
            f"{config['assistant'].get('passages')}; decodificación: {_decoding(config)}"
        ),
        (
            "- Error estándar: en cada semilla, desviación típica muestral (ddof=1) / √n sobre "
            "las preguntas; entre semillas, `pooled_sample_stderr` de lm-evaluation-harness "
            "(media ponderada por n)."
        ),
        "",
        (
            "Cada valor es la media ± un error estándar sobre las preguntas, agrupando las "
            "semillas. El error estándar mide solo la variación debida a qué preguntas se "
            "eligieron; no incluye otras fuentes (otra máquina, otras notas)."
        ),
        "",
        *(
            [
                PLOTS_HEADING,
                "",
                f"![Métricas por estrategia y modelo]({plots['metrics'].name})",
                "",
                f"![Latencia frente a token F1]({plots['latency_f1'].name})",
                "",
            ]
            if plots
            else []
        ),
        "## Calidad",
        "",
        *_table(results, SHARES[:6]),
        "",
        "## Abstención y latencia (s)",
        "",
        *_table(results, SHARES[6:] + LATENCIES),
        "",
        "## Qué mide cada columna",
        "",
        *[f"- `{column_label(m)}`: {DESCRIPTIONS[m]}" for m in SHARES + LATENCIES],
        "",
        "Filas que entran en cada media (n, sumando semillas):",
        "",
        *_n_table(results),
        "",
    ]
    if len(seeds) > 1:
        lines += [
            "## token F1 por semilla",
            "",
            "| estrategia | modelo | "
            + " | ".join(f"semilla {s}" for s in seeds)
            + " | sd entre semillas |",
            "|---|---|" + "---|" * (len(seeds) + 1),
        ]
        for cell in results["cells"]:
            per_seed = [
                _fmt(
                    cell["per_seed"][str(s)]["token_f1"]["mean"],
                    cell["per_seed"][str(s)]["token_f1"]["stderr"],
                )
                for s in seeds
            ]
            spread = cell["metrics"]["token_f1"]["seed_sd"]
            lines.append(
                f"| {cell['strategy']} | {cell['model']} | "
                + " | ".join(per_seed)
                + f" | {_fmt(spread, None)} |"
            )
        lines.append("")
    if results.get("paired") and results["paired"]["deltas"]:
        lines += _paired_section(results["paired"])
    lines += [
        "## Hechos que se leen en las tablas",
        "",
        f"- Orden por token F1 (de mayor a menor): {_ranking(results, 'token_f1', True)}.",
        (
            f"- Orden por tiempo total medio (de menor a mayor): "
            f"{_ranking(results, 'total_ms', False)}."
        ),
    ]
    invariant = [_label(c) for c in results["cells"] if c["seed_invariant"]]
    if invariant:
        lines.append(
            f"- Celdas con el mismo prompt en todas las semillas: {', '.join(invariant)}. Con "
            "decodificación voraz su salida es la misma, así que su variación entre semillas "
            "es cero por construcción (se generó una vez y se reutilizó). El error estándar "
            "agrupado cuenta cada semilla como muestras nuevas, así que en estas celdas es el "
            f"de una sola semilla dividido por √{len(seeds)}."
        )
    generated = sum(c["outputs"]["generated"] for c in results["cells"])
    reused = sum(c["outputs"]["reused"] for c in results["cells"])
    lines += [
        (
            f"- Salidas del modelo generadas: {generated}; reutilizadas de la caché: {reused} "
            "(una salida reutilizada conserva el tiempo de generación medido al crearla)."
        ),
        "",
    ]
    return "\n".join(lines)


def write_report(results: dict, out: Path) -> dict[str, Path]:
    """Write both plots and report.md in ``out``; return their paths by name."""
    out = Path(out)
    plots = {
        "metrics": plot_metrics(results, out / "metrics.png"),
        "latency_f1": plot_latency_f1(results, out / "latency_f1.png"),
    }
    report = out / "report.md"
    atomic_write_text(report, render_report(results, plots))
    return {**plots, "report": report}
