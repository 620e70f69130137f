#!/usr/bin/env python3
"""An external Weft task worker in plain Python 3 (standard library only).

It declares its task types, long-polls Weft for their tasks, runs each task in a thread while a
second thread heartbeats the lease, and reports the outcome. A handler may upload files of the
execution (artifacts) while it holds the task: see `text.report`. SIGTERM or SIGINT stops it gracefully:
no new polls, running tasks get a grace period, unfinished ones are released so that another
worker takes them without using a retry. The protocol is described in docs/workers.md.

    WEFT_URL=http://127.0.0.1:8080 WEFT_API_KEY=weft_... python3 worker.py

Add task types with the @task_type decorator, in this file or in a script that imports it.
"""

import argparse
import json
import logging
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

log = logging.getLogger("weft.worker")
HANDLERS = {}  # task type -> handler(input, task) returning a JSON-serialisable output
DECLARATIONS = {}  # task type -> body of PUT /task-types/{type}


class NonRetryable(Exception):
    """Raise for a failure that a retry cannot fix: the step skips its remaining attempts."""

    def __init__(self, message, details=None):
        super().__init__(message)
        self.details = details


def task_type(name, description, input_schema, output_schema, lease_seconds=30):
    """Registers a handler, and the schemas the worker declares for its type at start."""

    def register(handler):
        HANDLERS[name] = handler
        DECLARATIONS[name] = {"description": description, "input_schema": input_schema,
                              "output_schema": output_schema, "lease_seconds": lease_seconds}
        return handler

    return register


# --- Example handlers -------------------------------------------------------------------------

TEXT_INPUT = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}


def text_of(task_input):
    if not isinstance(task_input, dict) or not isinstance(task_input.get("text"), str):
        raise NonRetryable("input.text must be a string", {"input": task_input})
    return task_input["text"]


@task_type("text.shout", "Upper-cases a text.", TEXT_INPUT,
           {"type": "object", "additionalProperties": False, "properties": {"text": {"type": "string"}}})
def shout(task_input, task):
    return {"text": text_of(task_input).upper()}


@task_type("text.count_words", "Counts the words and characters of a text.", TEXT_INPUT,
           {"type": "object", "additionalProperties": False,
            "properties": {"words": {"type": "integer"}, "characters": {"type": "integer"}}})
def count_words(task_input, task):
    text = text_of(task_input)
    return {"words": len(text.split()), "characters": len(text)}


ARTIFACT_OUTPUT = {"type": "object", "additionalProperties": False,
                   "properties": {"name": {"type": "string"}, "size": {"type": "integer"},
                                  "content_type": {"type": "string"}, "sha256": {"type": "string"},
                                  "step_id": {"type": ["string", "null"]}, "created_at": {"type": "string"}}}


@task_type("text.report", "Writes a JSON report of a text as an artifact; outputs the artifact.",
           TEXT_INPUT, ARTIFACT_OUTPUT)
def report(task_input, task):
    text = text_of(task_input)
    body = {"text": text, "words": len(text.split()), "characters": len(text),
            "execution_id": task.task["execution_id"], "attempt": task.task["attempt"]}
    # One name per step, and per item under for_each: an upload replaces an artifact of its name.
    index = task.task.get("index")
    name = f"{task.task['step_id']}{'' if index is None else f'-{index}'}-report.json"
    # The output is the artifact's metadata, {name, size, content_type, sha256, step_id, created_at}:
    # later steps read it as a reference, clients download the file by name.
    return task.put_artifact(name, json.dumps(body, indent=2).encode(), "application/json")


# --- HTTP client ------------------------------------------------------------------------------

class WeftError(Exception):
    """An error answer of the API: an RFC 9457 problem with a `code` such as LEASE_LOST."""

    def __init__(self, status, problem):
        super().__init__(f"{status} {problem.get('code')}: {problem.get('detail') or problem.get('title')}")
        self.status, self.code = status, problem.get("code")


class Client:
    def __init__(self, url, api_key):
        self.base, self.api_key = url.rstrip("/") + "/api/v1", api_key

    def call(self, method, path, body=None, timeout=15, attempts=1, raw=None,
             content_type="application/json"):
        """Sends JSON `body` (or `raw` bytes of `content_type`) and returns the JSON answer; network
        errors, 429 and 5xx are tried `attempts` times."""
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        for attempt in range(1, attempts + 1):
            try:
                return self._send(method, path, data, content_type, timeout)
            except (WeftError, OSError) as error:  # urllib.error.URLError is an OSError
                transient = not isinstance(error, WeftError) or error.status == 429 or error.status >= 500
                if not transient or attempt == attempts:
                    raise
                log.warning("%s %s failed (%s), trying again", method, path, error)
                time.sleep(attempt)

    def put_artifact(self, execution_id, name, data, content_type, step_id=None):
        """Uploads bytes as artifact `name` of an execution (replacing one of that name) and returns
        its metadata. A key with role worker may do so only while it holds a task of the execution:
        otherwise, and once that task is reported, the answer is 403 FORBIDDEN."""
        quote = urllib.parse.quote
        path = f"/executions/{quote(execution_id, safe='')}/artifacts/{quote(name, safe='')}"
        if step_id is not None:
            path += "?" + urllib.parse.urlencode({"step_id": step_id})
        # Bytes in memory can be sent again after a network error. A big file can be passed as an
        # open file (or an iterable of bytes): urllib sends it in blocks, chunked since there is no
        # Content-Length, but having been read it cannot be sent twice.
        attempts = 3 if isinstance(data, (bytes, bytearray)) else 1
        return self.call("PUT", path, raw=data, content_type=content_type, timeout=60, attempts=attempts)

    def _send(self, method, path, data, content_type, timeout):
        headers = {"Authorization": f"Bearer {self.api_key}", "Content-Type": content_type}
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            text = error.read().decode(errors="replace")
            try:
                problem = json.loads(text)
            except ValueError:
                problem = {"detail": text[:200]}
            raise WeftError(error.code, problem if isinstance(problem, dict) else {}) from None


# --- The worker -------------------------------------------------------------------------------

class Task:
    """A task in flight; handlers get it as their second argument."""

    def __init__(self, task, client):
        self.task = task  # id, execution_id, step_id, index, workflow_id, type, input, attempt, lease_...
        self.client = client
        # The same for every attempt of the step, while each attempt has a new task id: key side
        # effects (payments, e-mails, rows) by this so that a repeated attempt does not repeat them.
        self.idempotency_key = f"{task['execution_id']}/{task['step_id']}"
        # Set when the work must stop: cancel requested, lease lost, or released at shutdown. A long
        # handler should check it (or wait on it) and return early; its result is dropped anyway.
        self.cancelled = threading.Event()
        self.handler_done = threading.Event()
        self._lock, self._state = threading.Lock(), "running"

    def put_artifact(self, name, data, content_type="application/octet-stream"):
        """Uploads `data` (bytes, or a str sent as UTF-8) as artifact `name` of the task's execution,
        attributed to its step; returns the artifact's metadata. Only while the task is held."""
        if isinstance(data, str):
            data = data.encode()
        raw = self.task
        return self.client.put_artifact(raw["execution_id"], name, data, content_type, raw["step_id"])

    def settle(self, state):
        """running -> reporting (the handler finished) or dropped: the first caller wins."""
        with self._lock:
            if self._state != "running":
                return False
            self._state = state
        if state == "dropped":
            self.cancelled.set()
        return True


class Worker:
    def __init__(self, client, worker_id, types, concurrency=4, wait_seconds=20, grace_seconds=10):
        self.client, self.worker_id, self.types = client, worker_id, types
        self.concurrency, self.wait_seconds, self.grace_seconds = concurrency, wait_seconds, grace_seconds
        self.in_flight = {}  # task id -> Task, guarded by `changed`
        self.changed = threading.Condition()
        self.stop_requested_at = None  # set by the signal handler: a plain assignment, no lock

    def declare(self):
        for name in self.types:
            path = "/task-types/" + urllib.parse.quote(name, safe="")
            declared = self.client.call("PUT", path, DECLARATIONS[name], attempts=3)
            log.info("declared %s (lease %ss)", name, declared["lease_seconds"])

    def request_stop(self, signum, frame):
        name = signal.Signals(signum).name
        if self.stop_requested_at is None:
            self.stop_requested_at = time.monotonic()
            log.info("%s: stopping after the poll in flight (at most %ss)", name, self.wait_seconds)
        else:  # impatient: exit now; unreported tasks go back to the queue when their leases expire
            log.warning("%s again: exiting at once", name)
            os._exit(1)

    def run(self):
        backoff = 1
        while self.stop_requested_at is None:
            with self.changed:  # poll only for as many tasks as there are free slots
                self.changed.wait_for(lambda: len(self.in_flight) < self.concurrency, timeout=0.5)
                free = self.concurrency - len(self.in_flight)
            if free == 0:
                continue
            body = {"worker_id": self.worker_id, "types": self.types,
                    "wait_seconds": self.wait_seconds, "max_tasks": free}
            try:
                tasks = self.client.call("POST", "/tasks/poll", body, timeout=self.wait_seconds + 15)["tasks"]
                backoff = 1
            except (WeftError, OSError) as error:
                if isinstance(error, WeftError) and error.status < 500 and error.status != 429:
                    raise  # a wrong key, role or request does not fix itself
                log.warning("poll failed (%s); polling again in %ss", error, backoff)
                deadline = time.monotonic() + backoff
                while self.stop_requested_at is None and time.monotonic() < deadline:
                    time.sleep(0.2)
                backoff = min(backoff * 2, 30)
                continue
            for raw in tasks:
                if self.stop_requested_at is None:
                    self.start(Task(raw, self.client))
                else:  # the poll in flight when the stop came brought tasks: hand them back now
                    self.release(Task(raw, self.client))
        self.shut_down()

    def start(self, task):
        with self.changed:
            self.in_flight[task.task["id"]] = task
        raw = task.task
        log.info("task %s: %s, step %s, attempt %s", raw["id"], raw["type"], raw["step_id"], raw["attempt"])
        threading.Thread(target=self.execute, args=(task,), daemon=True).start()
        threading.Thread(target=self.heartbeat, args=(task,), daemon=True).start()

    def execute(self, task):
        task_id = task.task["id"]
        try:
            output = HANDLERS[task.task["type"]](task.task["input"], task)
            json.dumps(output)  # an output that is not JSON fails the attempt here
            action, body = "complete", {"output": output}
        except NonRetryable as error:
            action, body = "fail", {"error": {"message": str(error), "retryable": False}}
            if error.details is not None:
                body["error"]["details"] = error.details
        except Exception as error:  # anything else is worth another attempt
            log.exception("task %s: handler raised", task_id)
            message = f"{type(error).__name__}: {error}"
            action, body = "fail", {"error": {"message": message, "retryable": True}}
        task.handler_done.set()
        if task.settle("reporting"):
            try:
                self.client.call("POST", f"/tasks/{task_id}/{action}", body, attempts=3)
                log.info("task %s: %s", task_id, "completed" if action == "complete" else "failed")
            except WeftError as error:  # LEASE_LOST: the step was taken back; the result is discarded
                log.warning("task %s: %s refused: %s", task_id, action, error)
            except OSError as error:
                log.error("task %s: could not report (%s); its lease will expire", task_id, error)
        with self.changed:
            self.in_flight.pop(task_id, None)
            self.changed.notify_all()

    def heartbeat(self, task):
        task_id = task.task["id"]
        interval = max(1.0, task.task["lease_seconds"] / 3)  # three chances before the lease ends
        while not task.handler_done.wait(interval) and not task.cancelled.is_set():
            try:
                answer = self.client.call("POST", f"/tasks/{task_id}/heartbeat", {})
            except WeftError as error:
                if error.code == "LEASE_LOST" or error.status == 404:
                    if task.settle("dropped"):
                        log.warning("task %s: lease lost; dropping it", task_id)
                    return
                log.warning("task %s: heartbeat refused (%s)", task_id, error)
                continue
            except OSError as error:  # the lease may still be valid: try again at the next beat
                log.warning("task %s: heartbeat failed (%s)", task_id, error)
                continue
            if answer.get("cancel_requested"):
                if task.settle("dropped"):
                    log.info("task %s: cancel requested; dropping it", task_id)
                return

    def release(self, task):
        """Hands a task back without using a retry; the result of its handler is dropped."""
        if task.settle("dropped"):
            try:
                self.client.call("POST", f"/tasks/{task.task['id']}/release", {}, attempts=2)
                log.info("task %s: released", task.task["id"])
            except (WeftError, OSError) as error:
                log.warning("task %s: release failed (%s); its lease will expire", task.task["id"], error)

    def shut_down(self):
        deadline = self.stop_requested_at + self.grace_seconds
        with self.changed:
            self.changed.wait_for(lambda: not self.in_flight, timeout=max(0.0, deadline - time.monotonic()))
            unfinished = list(self.in_flight.values())
        for task in unfinished:
            self.release(task)
        log.info("stopped")


def main(argv=None):
    parser = argparse.ArgumentParser(description="A Weft external task worker.")
    parser.add_argument("--url", default=os.environ.get("WEFT_URL", "http://127.0.0.1:8080"),
                        help="the Weft server (default: $WEFT_URL or http://127.0.0.1:8080)")
    parser.add_argument("--api-key", default=os.environ.get("WEFT_API_KEY"), help="default: $WEFT_API_KEY")
    parser.add_argument("--types", help="comma-separated task types to serve (default: all registered)")
    parser.add_argument("--worker-id", default=os.environ.get("WEFT_WORKER_ID"),
                        help="shown in execution timelines (default: python-<host>-<pid>)")
    parser.add_argument("--concurrency", type=int, default=4, help="tasks run at once (default 4)")
    parser.add_argument("--wait-seconds", type=int, default=20, help="long-poll wait, 0..30 (default 20)")
    parser.add_argument("--grace-seconds", type=float, default=10,
                        help="time running tasks get to finish at shutdown (default 10)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if not args.api_key:
        parser.error("set WEFT_API_KEY or pass --api-key (a key with role worker)")
    types = args.types.split(",") if args.types else list(HANDLERS)
    unknown = [name for name in types if name not in HANDLERS]
    if unknown:
        parser.error(f"no handler for {', '.join(unknown)}; registered: {', '.join(HANDLERS)}")
    worker_id = args.worker_id or f"python-{socket.gethostname()}-{os.getpid()}"

    worker = Worker(Client(args.url, args.api_key), worker_id, types,
                    args.concurrency, args.wait_seconds, args.grace_seconds)
    signal.signal(signal.SIGTERM, worker.request_stop)
    signal.signal(signal.SIGINT, worker.request_stop)
    try:
        worker.declare()
        print(f"python worker {worker_id} is polling {args.url} for {', '.join(types)}", flush=True)
        worker.run()
    except (WeftError, OSError) as error:
        log.error("giving up: %s", error)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
