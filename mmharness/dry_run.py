"""``mmh run --dry-run``: what a run would send, without building the model or sending anything.

Per task: the number of requests and of media inputs (images, videos, ...) that would be sent, the
capability path, the generation settings and the first sample's prompt, after every option
(``--limit``, ``--task-args``, the task's ``profile``) is applied. Requests are built exactly as a
run builds them (``Task.request``), so a malformed sample fails here too; media are not decoded.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

from .generation import is_media
from .requests import GenerateRequest, Request
from .task import limit_samples


def dry_run_plan(adapter: str, model_args: dict, tasks: Sequence[Any], datas: dict, executors: dict,
                 limit: int | float | None) -> dict:
    """The plan document (``kind: mmharness.dry_run``) for these loaded tasks."""
    plan: dict[str, Any] = {"kind": "mmharness.dry_run", "model": {"adapter": adapter, "args": dict(model_args)},
                            "tasks": {}}
    for t in tasks:
        d = datas[t.name]
        samples = limit_samples(d.samples, limit)
        media: Counter = Counter()
        settings: Counter = Counter()
        first: Request | None = None
        for s in samples:
            req = t.build_request(s)
            first = first or req
            for ref in req.media().values():
                media[getattr(ref, "modality", "media")] += 1
            params = getattr(req, "params", None)
            if params is not None:
                settings[_params_key(params)] += 1
        plan["tasks"][t.name] = {
            "requests": len(samples), "media": dict(media), "images": media.get("image", 0),
            "capability_path": executors[t.name].path, "data": {"kind": d.kind, "source": d.source},
            "profile": getattr(t, "profile", None),
            "generation": [dict(k) | {"requests": n} for k, n in settings.items()],
            "first_sample": samples[0].id if samples else None,
            "first_prompt": preview(first) if first is not None else None,
        }
    return plan


def _params_key(params) -> tuple:
    d = params.as_dict()
    return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in d.items())


def preview(req: Request) -> str:
    """A readable rendering of one request: the messages of a ``generate`` request (media shown
    as ``<image>``, ``<video>``, ...), else the request's text and media names."""
    if isinstance(req, GenerateRequest):
        lines = []
        for m in req.messages:
            parts = [f"<{getattr(p, 'modality', 'media')}>" if is_media(p) else p for p in m.parts]
            lines.append(f"{m.role}: " + "\n".join(parts))
        return "\n".join(lines)
    text = getattr(req, "text", None) or ", ".join(getattr(req, "texts", []) or [])
    media = ", ".join(f"{k}=<{getattr(v, 'modality', 'media')}>" for k, v in req.media().items())
    labels = getattr(req, "labels", None)
    extra = f"; labels: {labels.name} ({len(labels)} classes)" if labels is not None else ""
    return f"{req.capability.value}: {media}{'; text: ' + text if text else ''}{extra}"


def format_plan(plan: dict) -> str:
    """The plan as text for the terminal."""
    out = [f"dry run: adapter {plan['model']['adapter']} (nothing is built or sent)"]
    for name, t in plan["tasks"].items():
        media = ", ".join(f"{n} {k}{'' if n == 1 else 's'}" for k, n in sorted(t["media"].items())) or "no media"
        out.append(f"\n== {name}: {t['requests']} request(s), {media} ({t['capability_path']}; "
                   f"data: {t['data']['kind']} {t['data']['source']})")
        if t["profile"]:
            out.append(f"profile: {t['profile']}")
        for g in t["generation"]:
            out.append("generation: " + ", ".join(f"{k}={v}" for k, v in g.items()))
        if t["first_prompt"] is not None:
            out.append(f"first prompt (sample {t['first_sample']}):")
            out.extend("  " + line for line in t["first_prompt"].splitlines() or [""])
    return "\n".join(out)

