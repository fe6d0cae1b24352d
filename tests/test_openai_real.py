"""--model openai:NAME against a real server: llama.cpp's (``python -m llama_cpp.server``
from the benchmark venv, eval/setup_llama_cpp_bench.sh) serving the exported GGUF of
Gemma 3 270M with the shipped adapter merged (assistant/training/gguf_export.py), on a free
loopback port, asked through the normal answering path (e5 retrieval, the checker)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from assistant import generators
from assistant.cli.main import main
from assistant.prompts import ABSTAIN
from assistant.settings import load_assistant
from index.store import open_index
from tests.conftest import NOTES, ROOT
from tests.served import free_port, stop

pytestmark = pytest.mark.slow

BENCH_PYTHON = ROOT / ".cache" / "bench-venv" / "bin" / "python"
SERVED = "gemma-notes"  # the alias the server lists the model under
START_TIMEOUT_S = 120


@pytest.fixture(scope="session")
def merged_gguf(tmp_path_factory) -> Path:
    from assistant.training.gguf_export import export_gguf

    folder = tmp_path_factory.mktemp("gguf")
    return export_gguf(folder / "gemma-270m-reader.gguf", adapter="default", gguf_type="q8_0")


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _check_bench_venv() -> None:
    """Fail (never skip) without the benchmark venv's llama.cpp server."""
    setup = "set it up with `bash eval/setup_llama_cpp_bench.sh` (~5 min, compiles llama.cpp)"
    if not BENCH_PYTHON.exists():
        pytest.fail(f"{BENCH_PYTHON} is missing: {setup}")
    probe = subprocess.run(
        [str(BENCH_PYTHON), "-c", "import llama_cpp.server"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        pytest.fail(
            f"{BENCH_PYTHON} cannot import llama_cpp.server ({probe.stderr[-300:]}): {setup}"
        )


@pytest.fixture(scope="module")
def server_url(request, tmp_path_factory):
    """The server's base URL while it runs; stopped after the module's tests."""
    _check_bench_venv()  # before the export's minute of work
    merged_gguf = request.getfixturevalue("merged_gguf")
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        str(BENCH_PYTHON), "-m", "llama_cpp.server",
        "--model", str(merged_gguf), "--model_alias", SERVED,
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--n_threads", "2", "--verbose", "False",
    ]  # fmt: skip
    with log_path.open("w") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _listening(port):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        stop(server, timeout=15)


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    """One small note (Teacher Forcing), indexed with the real e5."""
    notes = tmp_path_factory.mktemp("served-notes")
    shutil.copy(NOTES / "teacher_forcing.md", notes)
    folder = notes.parent / f"{notes.name}-index"
    open_index(notes, folder)[0]
    return folder


def test_a_real_server_answers_with_citations_or_abstains(server_url, index_dir, monkeypatch):
    monkeypatch.setattr(generators, "_loaded", {})
    index = open_index(None, index_dir)[0]
    assistant = load_assistant(index, model=f"openai:{SERVED}", base_url=server_url)
    question = "¿Qué es el Teacher Forcing?"
    answer = assistant.answer(question)
    assert answer.model == f"openai:{SERVED}" and answer.draft.strip(), answer
    # llama.cpp's server lists logprobs: the veto ran, nothing to remark.
    assert assistant.generator.notice is None
    retrieved = {hit.chunk.id for hit in index.search(question, k=3)}
    if answer.abstained:
        assert answer.answer == ABSTAIN and answer.closest, answer
    else:
        assert answer.citations and all(c.chunk_id in retrieved for c in answer.citations)
        assert any(s.supported for s in answer.sentences), answer.sentences


def test_a_wrong_model_name_is_one_line_naming_the_server(server_url, index_dir, capsys):
    code = main(
        ["ask", "--index", str(index_dir), "--model", "openai:no-such-model"]
        + ["--base-url", server_url, "¿Qué es el Teacher Forcing?"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert server_url in err[0] and "no-such-model" in err[0] and SERVED in err[0]
