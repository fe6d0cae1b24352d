"""A model served elsewhere, behind the Generator contract: any OpenAI-compatible server
(Ollama, vLLM, llama.cpp's ``llama_cpp.server``) named ``openai:NAME``.

    get_generator("openai:gemma-notes", base_url="http://127.0.0.1:8000/v1")

The prompt goes to the completions endpoint (``/v1/completions``) as it is, the way a
base model reads it here: the strategies write one text prompt that ends in "Respuesta:".
Every server above offers that endpoint; Ollama wraps the prompt in the model's own
template there, vLLM and llama.cpp do not.

Stop strings go to the server's ``stop`` (the API takes at most four) and are enforced
here too, on the streamed text, as the local backend does: a stop string that straddles
two requests (see the veto below) or a server that ignores ``stop`` never reaches the
caller.

The veto of an unlikely abstention (``GenerationConfig.veto``): the first token is asked
for on its own (``max_tokens=1``, ``logprobs=5``: its probability and the five likeliest
tokens). When it begins the abstention sentence with a probability below ``veto_below``,
the likeliest listed token that does not begin it is taken instead; the answer then
streams from a second request whose prompt is the first one plus that token's text.
Why two requests rather than logprobs on the whole stream: llama.cpp's server computes
the top logprobs in Python over the whole vocabulary for every streamed token (262,144
entries for Gemma), which would slow the answer several times over; the second request
reuses the first one's prompt cache (llama.cpp, vLLM and Ollama all keep it), so it
costs little prefill. Known limits: only the five listed alternatives can be chosen (if
all begin the abstention, it stands), and the chosen token's text is tokenized again by
the server with the rest of the prompt. A server that returns no logprobs (Ollama's
OpenAI endpoint) answers without the veto, and ``notice`` says so.

Token counts are an estimate (no tokenizer endpoint is common to these servers): one
token per ``CHARS_PER_TOKEN`` characters, on the safe side of what the tokenizers here
give on the notes, so that a prompt kept inside ``context_window`` by the estimate fits
the server's real window too.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from assistant.errors import ModelServerError
from assistant.generators.base import GenerationConfig
from assistant.generators.stops import clip_stops, first_stop
from corpus.errors import AssistantError, SettingsError

PREFIX = "openai:"
BASE_URL_ENV = "STUDY_ASSISTANT_OPENAI_BASE_URL"
API_KEY_ENVS = ("STUDY_ASSISTANT_OPENAI_API_KEY", "OPENAI_API_KEY")
CONTEXT_ENV = "STUDY_ASSISTANT_OPENAI_CONTEXT"
TIMEOUT_ENV = "STUDY_ASSISTANT_OPENAI_TIMEOUT"
MODEL_ENV = "STUDY_ASSISTANT_OPENAI_MODEL"  # the app's dropdown entry (comma-separated)
DUMMY_KEY = "sin-clave"  # local servers ignore the key, the client insists on one
# llama.cpp's server and Ollama serve 2,048 tokens unless started with more; a server that
# lists its window (vLLM's max_model_len) is taken at its word.
DEFAULT_CONTEXT_WINDOW = 2048
# Tokens kept back for what a server adds around the prompt (BOS, Ollama's template).
WINDOW_MARGIN = 16
# Characters per token of prompts over the notes (120 of them, 3 random passages each):
# Gemma's tokenizer 4.1 on average (3.7 at the least), SmolLM2's 2.8 (2.6), an English
# vocabulary on Spanish text. 2.5 counts more tokens than either.
CHARS_PER_TOKEN = 2.5
# The most text one token may stand for when an answer is capped on our side: a token of
# these vocabularies is rarely over 16 characters, so the cap never cuts an honest answer.
MAX_CHARS_PER_TOKEN = 16
TOP_LOGPROBS = 5  # alternatives the server lists for the first token
MAX_STOPS = 4  # the OpenAI API refuses more stop strings


def is_served(name: str) -> bool:
    return name.startswith(PREFIX)


def resolve_base_url(base_url: str | None) -> str:
    """``--base-url`` or else the environment's, checked; SettingsError naming both."""
    url = (base_url or os.environ.get(BASE_URL_ENV, "")).strip()
    if not url:
        raise SettingsError(
            f"--model {PREFIX}NOMBRE necesita la URL del servidor: --base-url "
            f"http://localhost:11434/v1 (Ollama) o la variable {BASE_URL_ENV}"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"--base-url debe ser http(s)://servidor:puerto/v1, no {url!r}")
    return url.rstrip("/")


def check_served_options(
    name: str, adapter: str | None, precision: str | None, base_url: str | None
) -> str:
    """The base URL for a served model; SettingsError for the options that only a local
    model takes. Checked by the CLI before any slow work, and again by get_generator."""
    if not name[len(PREFIX) :].strip():
        raise SettingsError(f"--model {PREFIX}NOMBRE: falta el nombre del modelo en el servidor")
    if adapter is not None and str(adapter).strip().lower() not in ("", "none"):
        raise SettingsError(
            f"--adapter no se aplica a {name}: el servidor sirve el modelo ya hecho (exporta "
            "el GGUF con el adaptador fusionado, o sírvelo con vLLM --enable-lora)"
        )
    if precision:
        raise SettingsError(f"--precision no se aplica a {name}: la elige el servidor")
    return resolve_base_url(base_url)


def configured_models() -> list[str]:
    """The ``openai:NAME`` choices the environment names (for the app's dropdown): the
    names in STUDY_ASSISTANT_OPENAI_MODEL, when a base URL is set too."""
    if not os.environ.get(BASE_URL_ENV, "").strip():
        return []
    names = os.environ.get(MODEL_ENV, "").split(",")
    return [PREFIX + name.strip() for name in names if name.strip()]


def _env_number(variable: str, kind: type, low: float) -> float | None:
    value = os.environ.get(variable, "").strip()
    if not value:
        return None
    try:
        number = kind(value)
    except ValueError:
        number = None
    if number is None or number < low:
        raise SettingsError(f"{variable} debe ser un número >= {low:g}, no {value!r}")
    return number


@dataclass(frozen=True)
class OpenAIConfig:
    """Where the server is and how long to wait for it."""

    base_url: str
    api_key: str = DUMMY_KEY
    context_window: int | None = None  # None: what the server lists, else the default
    connect_timeout_s: float = 5.0
    # Between two pieces of the answer (and for the first, after the prompt's prefill): a
    # large model on a CPU server can take a minute over a long prompt.
    read_timeout_s: float = 120.0
    # A server that refused or timed out once does so again: one clear line at once
    # beats the same failure after a back-off.
    max_retries: int = 0

    def __post_init__(self) -> None:
        if self.context_window is not None and self.context_window < 256:
            raise SettingsError(f"context_window must be >= 256, got {self.context_window}")
        if self.connect_timeout_s <= 0 or self.read_timeout_s <= 0:
            raise SettingsError(
                f"timeouts must be > 0, got connect={self.connect_timeout_s} "
                f"read={self.read_timeout_s}"
            )
        if not 0 <= self.max_retries <= 3:
            raise SettingsError(f"max_retries must be in [0, 3], got {self.max_retries}")

    @classmethod
    def from_env(cls, base_url: str | None = None) -> OpenAIConfig:
        key = next((os.environ[v] for v in API_KEY_ENVS if os.environ.get(v)), DUMMY_KEY)
        window = _env_number(CONTEXT_ENV, int, 256)
        timeout = _env_number(TIMEOUT_ENV, float, 0.1)
        return cls(
            resolve_base_url(base_url),
            api_key=key,
            context_window=int(window) if window else None,
            read_timeout_s=timeout or cls.read_timeout_s,
        )


def begins(token: str, sentence: str) -> bool:
    """Whether ``token`` (a token's text, maybe with its leading space) begins ``sentence``."""
    text = token.lstrip()
    return bool(text) and sentence.startswith(text)


def choose_first_token(token: str, logprobs, config: GenerationConfig) -> str:
    """``token`` (the server's first token) unless it begins ``config.veto`` with a
    probability below ``config.veto_below``; then the likeliest listed token that does
    not ("" is an end token: the answer ends there, as the local backend's would)."""
    if not begins(token, config.veto):
        return token
    if math.exp(logprobs.token_logprobs[0]) >= config.veto_below:  # at T = 1, the model's own
        return token
    listed = sorted(logprobs.top_logprobs[0].items(), key=lambda pair: pair[1], reverse=True)
    others = [text for text, _ in listed if not begins(text, config.veto)]
    return others[0] if others else token


class OpenAIGenerator:
    """``openai:NAME`` at one server. Built by get_generator, which checks that the server
    answers and serves NAME before any question is asked."""

    def __init__(self, served: str, config: OpenAIConfig) -> None:
        import openai

        self.name = PREFIX + served
        self.served = served  # the model's name at the server
        self.adapter: str | None = None  # whatever the server merged in, it is not ours to load
        self.config = config
        self.url = config.base_url
        # Set once, the first time the server answers without logprobs: the CLI prints it,
        # the app shows it.
        self.notice: str | None = None
        self._logprobs = True  # until the server shows it gives none
        self._client = openai.OpenAI(
            base_url=config.base_url,
            api_key=config.api_key,
            timeout=openai.Timeout(config.read_timeout_s, connect=config.connect_timeout_s),
            max_retries=config.max_retries,
        )
        listed_window = self._check_model()  # always: a wrong name fails here, not later
        self._window = config.context_window or listed_window or DEFAULT_CONTEXT_WINDOW

    # -- the Generator contract -----------------------------------------------------------

    @property
    def context_window(self) -> int:
        return self._window - WINDOW_MARGIN

    def count_tokens(self, text: str) -> int:
        """An estimate, on the high side (see CHARS_PER_TOKEN)."""
        return math.ceil(len(text) / CHARS_PER_TOKEN)

    def stream(self, prompt: str, config: GenerationConfig) -> Iterator[str]:
        needed = self.count_tokens(prompt) + config.max_new_tokens
        if needed > self.context_window:
            raise AssistantError(
                f"El prompt no cabe en {self.name}: ~{self.count_tokens(prompt)} tokens + "
                f"{config.max_new_tokens} nuevos = {needed} > ventana de {self.context_window} "
                f"(súbela con {CONTEXT_ENV} si el servidor tiene más); usa menos pasajes o "
                "menos tokens nuevos"
            )
        return clip_stops(self._bounded(self._pieces(prompt, config), config), config.stop)

    def generate(self, prompt: str, config: GenerationConfig) -> str:
        return "".join(self.stream(prompt, config))

    def _bounded(
        self, pieces: Generator[str, None, None], config: GenerationConfig
    ) -> Generator[str, None, None]:
        """The server's text, bounded on our side whatever the server does: at most
        MAX_CHARS_PER_TOKEN characters per token asked for (a server that ignores
        max_tokens streamed forever, and a 22 MB answer was then checked for minutes),
        and one answer within the read timeout overall (it bounds each wait only)."""
        limit = config.max_new_tokens * MAX_CHARS_PER_TOKEN
        deadline = time.monotonic() + self.config.read_timeout_s
        written = 0
        try:
            for piece in pieces:
                if written + len(piece) >= limit:
                    yield piece[: limit - written]
                    return  # closing the generator closes the connection
                written += len(piece)
                yield piece
                if time.monotonic() > deadline:
                    raise ModelServerError(
                        f"El servidor {self.url} no terminó la respuesta en "
                        f"{self.config.read_timeout_s:g} s (modelo {self.served}); sube el "
                        f"plazo con {TIMEOUT_ENV}"
                    )
        finally:
            pieces.close()

    # -- requests -------------------------------------------------------------------------

    def _pieces(self, prompt: str, config: GenerationConfig) -> Generator[str, None, None]:
        """The answer's text as the server streams it, its first token chosen here when the
        veto applies (see the module's docstring)."""
        if not (config.veto and config.veto_below > 0 and self._logprobs):
            yield from self._completion(prompt, config, config.max_new_tokens)
            return
        try:
            token, finish, logprobs = self._first_token(prompt, config, TOP_LOGPROBS)
        except ModelServerError as error:
            if not _refused(error):
                raise
            # llama.cpp's server started with --logits_all false answers a request for
            # logprobs with a 500: once more without them (a real failure fails again).
            token, finish, logprobs = self._first_token(prompt, config, None)
        if logprobs is None:
            self._logprobs = False
            self.notice = (
                f"el servidor {self.url} no da logprobs: se responde sin el veto de las "
                "abstenciones improbables (con el modelo local, sí)"
            )
            first = token
        else:
            first = choose_first_token(token, logprobs, config)
        if not first:
            return  # an end token
        yield first
        ended = first == token and finish == "stop"
        if ended or config.max_new_tokens == 1 or first_stop(first, config.stop, 0) is not None:
            return
        yield from self._completion(prompt + first, config, config.max_new_tokens - 1)

    def _first_token(self, prompt: str, config: GenerationConfig, top: int | None):
        """(text, finish reason, logprobs or None) of the first new token alone. Streamed:
        llama.cpp's server lists logprobs for the last position only when streaming (not
        streaming, it computes them over every prompt position first)."""
        text, finish, logprobs = "", None, None
        for choice in self._choices(prompt, config, 1, logprobs=top):
            text += choice.text or ""
            finish = choice.finish_reason or finish
            listed = choice.logprobs
            if logprobs is None and listed and listed.token_logprobs and listed.top_logprobs:
                logprobs = listed
        return text, finish, logprobs

    def _completion(self, prompt: str, config: GenerationConfig, max_tokens: int) -> Iterator[str]:
        for choice in self._choices(prompt, config, max_tokens):
            if choice.text:
                yield choice.text

    def _choices(self, prompt: str, config: GenerationConfig, max_tokens: int, logprobs=None):
        penalty = config.repetition_penalty
        # Not in the OpenAI API: llama.cpp reads repeat_penalty, vLLM repetition_penalty,
        # others ignore both. Unlike the local backend's, theirs also counts the prompt.
        extra = {"repeat_penalty": penalty, "repetition_penalty": penalty} if penalty != 1 else {}
        with self._errors():
            response = self._client.completions.create(
                model=self.served,
                prompt=prompt,
                max_tokens=max_tokens,
                temperature=config.temperature,
                top_p=config.top_p,
                seed=config.seed,
                stop=list(config.stop[:MAX_STOPS]) or None,
                logprobs=logprobs,
                stream=True,
                extra_body=extra or None,
            )
            received = 0
            with response as chunks:
                for chunk in chunks:
                    choices = getattr(chunk, "choices", None)
                    if not isinstance(choices, list):
                        raise self._malformed("un fragmento sin lista 'choices'")
                    for choice in choices[:1]:
                        if not isinstance(getattr(choice, "text", None), str | None):
                            raise self._malformed("un 'text' que no es texto")
                        yield choice
                    received += 1
            if not received:
                # A 200 whose body is not an event stream (a JSON completion, an HTML page)
                # reads as no events at all: never an empty answer, which would pass for an
                # abstention.
                raise self._malformed("una respuesta que no es un stream de eventos")

    def _check_model(self) -> int | None:
        """Refuse a model the server does not list (llama.cpp's server answers any name with
        the model it has); the window it lists for the model, if any (vLLM)."""
        import openai

        try:
            with self._errors():
                listed = list(self._client.models.list())
        except ModelServerError as error:
            if isinstance(error.__cause__, openai.NotFoundError):
                return None  # no /models here: a wrong name shows at the first question
            raise
        for model in listed:
            if model.id in (self.served, f"{self.served}:latest"):  # Ollama's default tag
                window = (model.model_extra or {}).get("max_model_len")
                return int(window) if isinstance(window, int) else None
        served = ", ".join(sorted(model.id for model in listed)) or "ninguno"
        raise ModelServerError(
            f"El servidor {self.url} no tiene el modelo {self.served!r} (sirve: {served}); "
            f"usa --model {PREFIX}NOMBRE con uno de ellos"
        )

    def _malformed(self, what: str) -> ModelServerError:
        return ModelServerError(
            f"El servidor {self.url} devolvió {what} (modelo {self.served}): ¿es compatible "
            "con la API de OpenAI en /v1/completions con stream?"
        )

    @contextmanager
    def _errors(self):
        """The client's exceptions as one Spanish line that names the server."""
        import openai

        try:
            yield
        except openai.APITimeoutError:
            raise ModelServerError(
                f"El servidor {self.url} no respondió a tiempo (modelo {self.served}; "
                f"plazo de {self.config.read_timeout_s:g} s por respuesta, "
                f"{self.config.connect_timeout_s:g} s para conectar): ¿está sobrecargado? "
                f"Sube el plazo con {TIMEOUT_ENV}"
            ) from None
        except openai.APIConnectionError:
            raise ModelServerError(
                f"No se puede conectar con el servidor {self.url}: ¿está en marcha? "
                "Comprueba --base-url"
            ) from None
        except openai.APIStatusError as error:
            said = _server_message(error)
            if error.status_code == 404 or "model_not_found" in said:
                raise ModelServerError(
                    f"El servidor {self.url} no encuentra el modelo {self.served!r} "
                    f"(error {error.status_code}: {said}): comprueba el nombre del modelo y "
                    "que la URL acabe en /v1"
                ) from error
            if error.status_code >= 500:
                raise ModelServerError(
                    f"El servidor {self.url} falló (error {error.status_code}: {said}); "
                    "mira su registro"
                ) from error
            raise ModelServerError(
                f"El servidor {self.url} rechazó la petición (error {error.status_code}: {said})"
            ) from error
        except openai.APIError as error:  # an error event inside the stream, a bad body
            said = " ".join(str(error.message or error).split())[:200]
            raise ModelServerError(f"El servidor {self.url} devolvió un error: {said}") from None
        except json.JSONDecodeError as error:
            raise self._malformed(f"JSON no válido ({error.msg})") from None


def _server_message(error) -> str:
    """The server's own explanation, on one line and short. The client hands over the
    body's "error" object when there is one (llama.cpp, vLLM, Ollama); FastAPI's own
    errors say "detail"."""
    body = error.body if isinstance(error.body, dict) else {}
    message = " ".join(str(body.get("message") or body.get("detail") or error.message).split())
    code = body.get("code")
    return f"{message[:200]} [{code}]" if code and str(code) not in message else message[:200]


def _refused(error: ModelServerError) -> bool:
    """A status the server answered with (not a missing model): maybe the logprobs."""
    import openai

    cause = error.__cause__
    return (
        isinstance(cause, openai.APIStatusError)
        and cause.status_code != 404
        and "model_not_found" not in str(error)
    )
