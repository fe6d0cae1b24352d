"""--model openai:NAME against a fake OpenAI-compatible server (tests/fake_openai.py):
streaming, stop strings, the abstention veto over logprobs, a server without logprobs,
and each way a server can fail as one line that names it."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from assistant import generators
from assistant.answer import Assistant, AssistantConfig
from assistant.cli.main import main
from assistant.errors import ModelServerError
from assistant.generators import get_generator
from assistant.generators.base import GenerationConfig, NoticeOnce
from assistant.generators.openai_backend import (
    BASE_URL_ENV,
    CONTEXT_ENV,
    MODEL_ENV,
    TIMEOUT_ENV,
    OpenAIGenerator,
    configured_models,
)
from assistant.generators.stops import clip_stops
from assistant.prompts import ABSTAIN
from assistant.selection import SELECTORS
from corpus.errors import SettingsError
from index.store import NotesIndex, build_index
from tests.fake_openai import FakeOpenAIServer, Script
from tests.fakes import OverlapChecker, OverlapSelector, open_policy, writes_every_form
from tests.served import free_port  # a loopback port nothing listens on

PROMPT = "Pasajes:\n[1] El sol es una estrella.\n\nPregunta: ¿Qué es el sol?\nRespuesta:"
STOPS = ("\nPregunta:", "\nPasajes:", "\n\n\n")
# What the answer path asks for (AbstentionPolicy.generation): the veto at 0.9.
VETOED = GenerationConfig(max_new_tokens=40, stop=STOPS, veto=ABSTAIN, veto_below=0.9)


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    """No generator, server setting or said notice carried over from another test."""
    monkeypatch.setattr(generators, "_loaded", {})
    monkeypatch.setattr("assistant.cli.main._NOTICES", NoticeOnce())
    for variable in (BASE_URL_ENV, MODEL_ENV, CONTEXT_ENV, TIMEOUT_ENV):
        monkeypatch.delenv(variable, raising=False)


def served(server: FakeOpenAIServer, name: str = "tiny") -> OpenAIGenerator:
    return get_generator(f"openai:{name}", base_url=server.url)


# -- streaming and stop strings ---------------------------------------------------------


@pytest.mark.parametrize(
    "server_stops, rest, expected",
    [
        # The server cuts at the stop string; nothing after it arrives.
        (True, [" sol", " [1].", "\nPregunta:", " otra"], " El sol [1]."),
        # A server that ignores `stop`: cut here, and the stop string never shows.
        (False, [" sol", " [1].", "\nPregunta:", " otra"], " El sol [1]."),
        # A stop string split across pieces ("\nPre" + "gunta:") is held back, then cut.
        (False, [" sol", " [1].\nPre", "gunta: otra"], " El sol [1]."),
        # A tail that only looked like a stop string's beginning is let through.
        (False, [" sol", "\nPre", "mio [1]."], " El sol\nPremio [1]."),
    ],
)
def test_streams_pieces_and_cuts_at_stop_strings(server_stops, rest, expected):
    script = Script(first={" El": 1.0}, rest={" El": rest}, honour_stop=server_stops)
    with FakeOpenAIServer(script) as server:
        pieces = list(served(server).stream(PROMPT, replace(VETOED, veto_below=0.0)))
    assert "".join(pieces) == expected and len(pieces) > 1  # streamed, not all at once
    (request,) = server.requests  # no veto: one request, no logprobs asked
    assert request["stop"] == list(STOPS) and request["stream"] and not request.get("logprobs")
    assert request["prompt"] == PROMPT and request["max_tokens"] == VETOED.max_new_tokens


def test_a_stop_string_across_the_veto_s_two_requests_is_cut_here():
    script = Script(first={" El\n": 0.95, " No": 0.05}, rest={" El\n": ["Pregunta:", " otra"]})
    with FakeOpenAIServer(script) as server:
        assert served(server).generate(PROMPT, VETOED) == " El"
    assert server.requests[1]["prompt"] == PROMPT + " El\n"


def test_clip_stops_closes_the_stream_it_cuts():
    closed = []

    def pieces():
        try:
            yield from ["a", "b\nPregunta:", "c"]
        finally:
            closed.append(True)

    assert "".join(clip_stops(pieces(), STOPS)) == "ab" and closed


# -- the veto ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "first, veto_below, answer",
    [
        # "No" (the abstention's first token) at 0.6 < 0.9: the likeliest other token.
        ({" No": 0.6, " La": 0.3, " El": 0.1}, 0.9, " La luz [1]."),
        # At 0.95 the model means it: the abstention stands.
        ({" No": 0.95, " La": 0.05}, 0.9, f" {ABSTAIN}"),
        # Veto off: the model's own first token, whatever its probability.
        ({" No": 0.6, " La": 0.4}, 0.0, f" {ABSTAIN}"),
        # A first token that does not begin the abstention is never vetoed.
        ({" El": 0.5, " No": 0.3, " La": 0.2}, 0.9, " El sol es una estrella [1]."),
    ],
)
def test_the_veto_takes_the_likeliest_other_first_token(first, veto_below, answer):
    with FakeOpenAIServer(Script(first=first)) as server:
        generator = served(server)
        assert generator.generate(PROMPT, replace(VETOED, veto_below=veto_below)) == answer
    assert generator.notice is None
    if veto_below:
        probe, rest = server.requests
        assert probe["max_tokens"] == 1 and probe["logprobs"] == 5
        chosen = answer.split()[0]
        assert rest["prompt"] == f"{PROMPT} {chosen}" and not rest.get("logprobs")
        assert rest["max_tokens"] == VETOED.max_new_tokens - 1


def test_without_logprobs_the_veto_is_skipped_and_said_once():
    script = Script(first={" No": 0.6, " La": 0.4}, logprobs=False)
    with FakeOpenAIServer(script) as server:
        generator = served(server)
        assert generator.generate(PROMPT, VETOED) == f" {ABSTAIN}"  # no veto, no crash
        assert "no da logprobs" in generator.notice and server.url in generator.notice
        requests = len(server.requests)
        assert generator.generate(PROMPT, VETOED) == f" {ABSTAIN}"
    assert len(server.requests) == requests + 1  # known now: no first-token probe again


def test_a_server_that_refuses_logprobs_is_asked_again_without():
    with FakeOpenAIServer(Script(first={" La": 1.0}, refuse_logprobs=True)) as server:
        generator = served(server)
        assert generator.generate(PROMPT, VETOED) == " La luz [1]."
    assert "no da logprobs" in generator.notice
    assert [bool(r.get("logprobs")) for r in server.requests] == [True, False, False]


# -- the answer path: citations, support, abstention as with the local model ----------


@pytest.fixture
def index(notes_copy, tmp_path, fake_embedder, fake_config) -> NotesIndex:
    build_index(notes_copy, tmp_path / "index", index_config=fake_config)
    return NotesIndex.load(tmp_path / "index")


def test_the_answer_path_cites_and_checks_a_served_answer(index):
    script = Script(
        first={" El": 1.0},
        rest={" El": [" Teacher", " Forcing", " usa", " la", " palabra", " correcta", " [1]."]},
    )
    with FakeOpenAIServer(script) as server:
        config = AssistantConfig(evidence=writes_every_form(), abstention=open_policy())
        assistant = Assistant(
            index, served(server), OverlapChecker(), config, selector=OverlapSelector()
        )
        answer = assistant.answer("¿Qué es Teacher Forcing?")
    assert not answer.abstained and answer.model == "openai:tiny" and answer.adapter is None
    assert [c.n for c in answer.citations] == [1] and answer.sentences
    probe = server.requests[0]
    assert probe["prompt"] == answer.prompt and probe["stop"] == list(STOPS)
    assert probe["logprobs"] == 5  # the policy's veto reached the server


def test_an_eval_over_a_served_model_records_its_server(index, tmp_path):
    from eval.answers import run_answer_eval

    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"id": "a", "question": "¿Qué es Teacher Forcing?", "answers": ["una técnica"], '
        '"evidence": [], "answerable": true}\n',
        encoding="utf-8",
    )
    with FakeOpenAIServer(Script(first={" Una": 1.0}, rest={" Una": [" técnica [1]."]})) as server:
        summary = run_answer_eval(
            str(index.notes_dir), str(questions), model="openai:tiny",
            index_dir=str(index.path), progress=False, base_url=server.url,
        )  # fmt: skip
    assert summary["config"]["model"] == "openai:tiny"
    assert summary["config"]["base_url"] == server.url
    assert summary["config"]["precision"] is None and summary["config"]["draft_tokens"] is None


def test_passages_are_dropped_to_fit_the_declared_window(index, monkeypatch):
    monkeypatch.setenv(CONTEXT_ENV, "600")
    with FakeOpenAIServer(Script(first={" La": 1.0})) as server:
        generator = served(server)
        config = AssistantConfig(evidence=writes_every_form(), passages=5, abstention=open_policy())
        answer = Assistant(
            index, generator, OverlapChecker(), config, selector=OverlapSelector()
        ).answer("¿Qué es LoRA?")
    budget = generator.context_window - config.generation.max_new_tokens
    passages = re.findall(r"^\[(\d+)\] ", answer.prompt, flags=re.MULTILINE)
    assert 1 <= len(passages) < 5 and generator.count_tokens(answer.prompt) <= budget
    with pytest.raises(Exception, match="no cabe"):
        generator.generate(PROMPT * 20, VETOED)


# -- failures: one line naming the server -----------------------------------------------


@pytest.mark.parametrize(
    "case, script, words",
    [
        ("refused", None, "No se puede conectar"),
        ("timeout", Script(delay_s=3.0), "no respondió a tiempo"),
        ("wrong model (listed)", Script(models=["otro"]), "no tiene el modelo 'tiny'"),
        (
            "wrong model (404)",
            Script(models=["otro"], list_models=False),
            "no encuentra el modelo 'tiny'",
        ),
        ("server error", Script(fail=(500, {"error": {"message": "boom"}})), "falló (error 500"),
        ("bad gateway", Script(fail=(502, {"detail": "upstream"})), "falló (error 502"),
    ],
)
def test_each_failure_is_one_line_that_names_the_server(monkeypatch, case, script, words):
    monkeypatch.setenv(TIMEOUT_ENV, "0.3")
    if script is None:
        url = f"http://127.0.0.1:{free_port()}/v1"
        with pytest.raises(ModelServerError) as error:
            get_generator("openai:tiny", base_url=url)
    else:
        with FakeOpenAIServer(script) as server, pytest.raises(ModelServerError) as error:
            url = server.url
            served(server).generate(PROMPT, VETOED)
    message = str(error.value)
    assert words in message and url in message and "\n" not in message, message


@pytest.fixture
def index_dir(notes_copy, tmp_path, fake_embedder, fake_config, monkeypatch):
    # The trained ranker reads e5 cosines; over the fake embedder's it finds no answer,
    # and these tests are about the served model, so the CLI and the app select by words.
    monkeypatch.setitem(SELECTORS, "blend", lambda unit_vectors: OverlapSelector())
    build_index(notes_copy, tmp_path / "index", index_config=fake_config)
    return tmp_path / "index"


def _ask(index_dir, url, *options):
    # A heading of the notes is retrieved with full confidence by the fake embedder, so
    # the question reaches the model.
    question = NotesIndex.load(index_dir).chunks[0].heading
    return main(["ask", "--index", str(index_dir), *options, "--base-url", url, question])


@pytest.mark.parametrize(
    "script, model, words",
    [
        (None, "openai:tiny", "No se puede conectar"),
        (Script(delay_s=3.0), "openai:tiny", "no respondió"),
        (Script(), "openai:otro", "no tiene el modelo 'otro'"),
        (Script(fail=(503, {"error": {"message": "loading"}})), "openai:tiny", "error 503"),
    ],
)
def test_the_cli_prints_one_line_per_failure(index_dir, capsys, monkeypatch, script, model, words):
    monkeypatch.setenv(TIMEOUT_ENV, "0.3")
    if script is None:
        url = f"http://127.0.0.1:{free_port()}/v1"
        code = _ask(index_dir, url, "--model", model)
    else:
        with FakeOpenAIServer(script) as server:
            url = server.url
            code = _ask(index_dir, url, "--model", model)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("error: ") and words in err[0] and url in err[0]


def test_the_cli_says_once_that_the_server_gives_no_logprobs(index_dir, capsys):
    with FakeOpenAIServer(Script(first={" No": 1.0}, logprobs=False)) as server:
        assert _ask(index_dir, server.url, "--model", "openai:tiny") == 0
        first = capsys.readouterr()
        assert _ask(index_dir, server.url, "--model", "openai:tiny") == 0
        second = capsys.readouterr()
    assert ABSTAIN in first.out and ABSTAIN in second.out
    notices = [line for line in first.err.splitlines() if line.startswith("aviso:")]
    assert len(notices) == 1 and "logprobs" in notices[0] and server.url in notices[0]
    assert "aviso:" not in second.err


# -- options ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--model", "openai:tiny"], "--base-url"),  # no URL anywhere
        (["--model", "openai:tiny", "--base-url", "localhost:11434"], "http(s)://"),
        (
            ["--model", "openai:tiny", "--base-url", "http://x/v1", "--precision", "bf16"],
            "--precision",
        ),
        (
            ["--model", "openai:tiny", "--base-url", "http://x/v1", "--adapter", "runs/x"],
            "--adapter",
        ),
        (["--model", "gemma-270m", "--base-url", "http://x/v1"], "--base-url solo"),
    ],
)
def test_served_options_are_checked_before_any_work(capsys, argv, words):
    assert main(["ask", "--notes", "/no/such/notes", *argv, "hola"]) == 2
    assert words in capsys.readouterr().err


def test_ollama_s_latest_tag_may_be_left_out():
    with FakeOpenAIServer(Script(models=["tiny:latest"])) as server:
        assert served(server).served == "tiny"  # the server resolves the tag itself


def test_a_served_model_needs_a_name(capsys):
    with pytest.raises(SystemExit):
        main(["ask", "--notes", "/no/such/notes", "--model", "openai:", "hola"])
    assert "modelo desconocido 'openai:'" in capsys.readouterr().err


def test_the_base_url_may_come_from_the_environment(monkeypatch):
    with FakeOpenAIServer() as server:
        monkeypatch.setenv(BASE_URL_ENV, server.url)
        generator = get_generator("openai:tiny")
        assert generator.url == server.url and get_generator("openai:tiny") is generator
    with pytest.raises(SettingsError, match="--adapter"):
        get_generator("openai:tiny", adapter="runs/lora")


def test_the_app_offers_the_served_models_the_environment_names(monkeypatch):
    assert configured_models() == []
    monkeypatch.setenv(MODEL_ENV, "gemma-notes, llama3.2")
    assert configured_models() == []  # no server named
    monkeypatch.setenv(BASE_URL_ENV, "http://localhost:11434/v1")
    assert configured_models() == ["openai:gemma-notes", "openai:llama3.2"]


def test_the_app_offers_a_served_model_and_shows_its_notice_once(
    notes_copy, tmp_path, index_dir, monkeypatch
):
    import gradio as gr

    import app as study_app
    from assistant.web.chat_state import ChatSession

    with FakeOpenAIServer(Script(first={" No": 1.0}, logprobs=False)) as server:
        monkeypatch.setenv(BASE_URL_ENV, server.url)
        monkeypatch.setenv(MODEL_ENV, "tiny")
        app = study_app.StudyApp(notes_copy, index_dir, experiments_dir=tmp_path / "exp")
        demo = study_app.build_ui(app)
        (models,) = [
            block
            for block in demo.blocks.values()
            if isinstance(block, gr.Dropdown) and block.label == "Modelo"
        ]
        assert ("openai:tiny", "openai:tiny") in models.choices
        warned = []
        monkeypatch.setattr("assistant.web.callbacks._warn", warned.append)
        settings = ("openai:tiny", True, "zero-shot", 3, 160, 0.0)
        for _ in range(2):
            *_, (_, chat, _, _) = app.ask(app.index.chunks[0].heading, ChatSession(), *settings)
            assert ABSTAIN in chat[-1]["content"]
    assert len(warned) == 1 and "logprobs" in warned[0]
