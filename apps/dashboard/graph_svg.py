"""A workflow's graph as inline SVG markup, written in Python rather than in a template loop:
a 2,000-step graph is some 10,000 elements, which Django's template engine takes seconds to
render and string formatting a few milliseconds. Every text is escaped here."""

from __future__ import annotations

import uuid
from html import escape  # the standard one: Django's lazy-aware wrapper costs 3x per call

from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from .graph_layout import NODE_HEIGHT, NODE_WIDTH
from .ops_selectors import WorkflowPage

KEY_CHARS = 22  # what fits in a node's width at the graph's font size
_PLACEHOLDER = uuid.UUID(int=0)


def _short(text: str) -> str:
    return text if len(text) <= KEY_CHARS else text[:KEY_CHARS - 1] + "…"


def graph_svg(*, page: WorkflowPage, label: str) -> SafeString:
    """The SVG: edges as curves with arrowheads, then each node as a group carrying the live
    contract's `data-status` (and `data-live-task` for a task the reader may see), with its key
    and status written in it and, when the reader may open the task, a link to its page."""
    drawn = page.layout
    task_url = reverse("dashboard:task", args=[_PLACEHOLDER]).replace(str(_PLACEHOLDER), "{}")
    out = [
        f'<svg class="wf-graph" xmlns="http://www.w3.org/2000/svg" width="{drawn.width}" '
        f'height="{drawn.height}" viewBox="0 0 {drawn.width} {drawn.height}" role="group" '
        f'aria-label="{escape(label)}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" '
        'markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'class="wf-arrow"/></marker></defs>',
        '<g class="wf-edges" aria-hidden="true">',
    ]
    out.extend(f'<path d="{line.path}" marker-end="url(#arrow)" '
               f'data-edge="{escape(line.before)}→{escape(line.after)}"/>'
               for line in drawn.lines)
    out.append("</g>")
    for d in page.nodes:
        node, task = d.node, d.node.task
        key, status = escape(node.key), escape(task.status)
        waits = f"; waits for {escape(', '.join(node.waits_for))}" if node.waits_for else ""
        body = (f'<rect width="{NODE_WIDTH}" height="{NODE_HEIGHT}" rx="6"/>'
                f'<text x="8" y="18" class="wf-key">{escape(_short(node.key))}</text>'
                f'<text x="8" y="36" class="wf-status" data-live-field="status">{status}</text>')
        if node.visible:
            title = escape(task.title)
            body = (f'<a href="{task_url.format(task.pk)}" aria-label="{key}: {title}, '
                    f'{status}">{body}</a><title>{key}: {title} ({status}){waits}</title>')
            live = f' data-live-task="{task.pk}"'
        else:
            body += f"<title>{key} ({status}){waits}</title>"
            live = ""
        out.append(f'<g class="wf-node" transform="translate({d.x},{d.y})" data-key="{key}"'
                   f'{live} data-status="{status}">{body}</g>')
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 (every value above is escaped or a number)


def steps_rows(*, page: WorkflowPage) -> SafeString:
    """The same steps as table rows (the graph for whoever does not read the drawing), written
    here for the same reason as the SVG; each row carries the live contract's attributes."""
    task_url = reverse("dashboard:task", args=[_PLACEHOLDER]).replace(str(_PLACEHOLDER), "{}")
    out = []
    for d in page.nodes:
        node, task = d.node, d.node.task
        key, status = escape(node.key), escape(task.status)
        if node.visible:
            live = f' data-live-task="{task.pk}"'
            name = (f'<a href="{task_url.format(task.pk)}">{key}</a> '
                    f'<span class="muted">{escape(task.title)}</span>')
        else:
            live, name = "", f'{key} <span class="muted">(not yours to open)</span>'
        out.append(
            f'<tr{live} data-status="{status}"><td>{name}</td>'
            f'<td><span class="status status-{status}" data-live-field="status">{status}</span>'
            f'</td><td>{escape(", ".join(node.depends_on)) or "—"}</td>'
            f'<td>{escape(", ".join(node.waits_for)) or "—"}</td></tr>')
    return mark_safe("".join(out))  # noqa: S308 (every value above is escaped or a number)
