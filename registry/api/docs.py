"""The API's description over HTTP: the OpenAPI document, and a page to read it.

The page is rendered on the server from the same document, with no script and nothing fetched
from elsewhere: it reads the same on a machine that reaches no CDN.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Blueprint, Response, current_app, render_template_string
from markupsafe import Markup, escape

from registry.api.auth import public
from registry.api.openapi import document_of

blueprint = Blueprint("docs", __name__, url_prefix="/api/v1")

METHODS = ("get", "put", "post", "delete", "patch")
INLINE_CODE = re.compile(r"`([^`]+)`")


@blueprint.get("/openapi.json")
@public
def openapi_document():
    """The OpenAPI 3.1 document of this API.
    ---
    get:
      responses:
        200:
          description: The document.
          content:
            application/json:
              schema: {type: object}
    """
    # In insertion order, not sorted: the upload's form fields stay in the order they are sent.
    body = json.dumps(document_of(current_app), ensure_ascii=False)
    return Response(body, mimetype="application/json")


@blueprint.get("/docs")
@public
def docs_page():
    """The OpenAPI document as a page: operations, parameters, answers and schemas.
    ---
    get:
      responses:
        200:
          description: A self-contained HTML page.
          content:
            text/html:
              schema: {type: string}
    """
    document = document_of(current_app)
    return render_template_string(
        PAGE,
        doc=document,
        tags=_operations_by_tag(document),
        schemas=document["components"]["schemas"],
        label=type_label,
        prose=prose,
        access=access,
        fields=schema_fields,
        resolve=lambda item: _resolve(document, item),
    )


def _operations_by_tag(document: dict[str, Any]) -> list[tuple[dict, list[dict]]]:
    by_tag: dict[str, list[dict]] = {tag["name"]: [] for tag in document.get("tags", [])}
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                operation = item[method]
                parameters = item.get("parameters", []) + operation.get("parameters", [])
                entry = {**operation, "method": method, "path": path, "all_parameters": parameters}
                by_tag.setdefault(operation["tags"][0], []).append(entry)
    tags = {tag["name"]: tag for tag in document.get("tags", [])}
    return [(tags.get(name, {"name": name}), ops) for name, ops in by_tag.items() if ops]


def _resolve(document: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """A parameter, response or header, with a `$ref` to the components followed."""
    while "$ref" in item:
        node: Any = document
        for part in item["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        item = node
    return item


def schema_fields(schema: dict[str, Any]) -> list[tuple[str, dict, bool]]:
    """(name, schema, required) of the fields an object schema spells out, `allOf` parts too."""
    parts = [schema, *(part for part in schema.get("allOf", []) if "$ref" not in part)]
    return [
        (name, sub, name in part.get("required", []))
        for part in parts
        for name, sub in part.get("properties", {}).items()
    ]


def access(operation: dict[str, Any]) -> str:
    """Who may call an operation, from its security requirements."""
    requirements = operation.get("security") or []
    scopes = [
        scope for requirement in requirements for scopes in requirement.values() for scope in scopes
    ]
    if not scopes:
        return "No token needed."
    anonymous = " (or none: anonymous reads are on)" if {} in requirements else ""
    return f"Token scope: {', '.join(scopes)}{anonymous}."


def prose(text: str | None) -> Markup:
    """Description text, its `backticked` words set as code."""
    return Markup(INLINE_CODE.sub(r"<code>\1</code>", str(escape(text or ""))))


def type_label(schema: dict[str, Any]) -> Markup:
    """A schema in a few words, linking the named schemas it uses."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return Markup('<a href="#schema-{0}">{0}</a>').format(name)
    for key, joiner in (("anyOf", " | "), ("oneOf", " | "), ("allOf", " &amp; ")):
        if key in schema:
            return Markup(joiner).join(type_label(part) for part in schema[key])
    kinds = schema.get("type", [])
    parts = []
    for kind in [kinds] if isinstance(kinds, str) else kinds:
        if kind == "array":
            parts.append(Markup("array of ") + type_label(schema.get("items", {})))
        elif kind == "object" and isinstance(schema.get("additionalProperties"), dict):
            parts.append(Markup("map of ") + type_label(schema["additionalProperties"]))
        elif kind == "string" and "contentMediaType" in schema:
            parts.append(Markup("file"))
        else:
            parts.append(escape(f"{kind} ({schema['format']})" if "format" in schema else kind))
    label = Markup(" | ").join(parts) if parts else Markup("any")
    if "enum" in schema:
        label += Markup(": ") + Markup(", ").join(
            Markup("<code>{}</code>").format(v) for v in schema["enum"]
        )
    return label


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ doc.info.title }} {{ doc.info.version }}: API</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; color: #1d232b;
       max-width: 70rem; margin: 0 auto; padding: 1rem 2rem; }
code, .path { font-family: ui-monospace, monospace; font-size: 0.92em; }
h2 { border-bottom: 2px solid #dde3ea; margin-top: 2.5rem; padding-bottom: .2rem; }
h3 { margin-bottom: .3rem; }
section.op { border-left: 4px solid #dde3ea; padding: .1rem 0 .4rem 1rem; margin: 1.4rem 0; }
.method { display: inline-block; min-width: 4.2rem; text-transform: uppercase;
          font: bold 0.8em ui-monospace, monospace; }
.get { color: #1a6fb3; } .post { color: #247a3c; } .put { color: #9a6400; }
.delete { color: #b3261e; }
table { border-collapse: collapse; margin: .4rem 0 .8rem; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .25rem .6rem;
         border-bottom: 1px solid #e6eaef; }
th { font-size: .85em; color: #5a6572; font-weight: 600; }
.muted { color: #5a6572; }
nav ul { columns: 2; padding-left: 1.2rem; }
</style>
</head>
<body>
<h1>{{ doc.info.title }} <span class="muted">{{ doc.info.version }}</span></h1>
<p>{{ prose(doc.info.description) }}</p>
<p>Machine-readable: <a href="openapi.json">openapi.json</a> (OpenAPI {{ doc.openapi }}).</p>
{% for scheme in doc.components.securitySchemes.values() %}
<p>Authentication: <code>Authorization: Bearer &lt;token&gt;</code>.
  {{ prose(scheme.description) }}</p>
{% endfor %}
<nav><ul>
{% for tag, ops in tags %}{% for op in ops %}
  <li><a href="#{{ op.operationId }}"><span class="method {{ op.method }}">{{ op.method }}</span>
    <span class="path">{{ op.path }}</span></a></li>
{% endfor %}{% endfor %}
  <li><a href="#schemas">Schemas</a></li>
</ul></nav>

{% for tag, ops in tags %}
<h2>{{ tag.name }}</h2>
{% if tag.description %}<p class="muted">{{ prose(tag.description) }}</p>{% endif %}
{% for op in ops %}
<section class="op" id="{{ op.operationId }}">
  <h3><span class="method {{ op.method }}">{{ op.method }}</span>
    <span class="path">{{ op.path }}</span></h3>
  <p>{{ prose(op.summary) }} {{ prose(op.description) }}</p>
  <p class="muted">{{ access(op) }}</p>
  {% if op.all_parameters %}
  <table>
    <tr><th>parameter</th><th>in</th><th>type</th><th>description</th></tr>
    {% for parameter in op.all_parameters %}{% set p = resolve(parameter) %}
    <tr><td><code>{{ p.name }}</code>{% if p.required %} *{% endif %}</td><td>{{ p.in }}</td>
      <td>{{ label(p.schema) }}</td><td>{{ prose(p.description) }}</td></tr>
    {% endfor %}
  </table>
  {% endif %}
  {% if op.requestBody %}
  <p>Request body{% if op.requestBody.required %} (required){% endif %}:
    {% for media, content in op.requestBody.content.items() %}
    <code>{{ media }}</code> {{ label(content.schema) }}{% if not loop.last %};{% endif %}
    {% endfor %}</p>
  {% endif %}
  <table>
    <tr><th>status</th><th>answer</th><th>body</th></tr>
    {% for status, response in op.responses.items() %}{% set r = resolve(response) %}
    <tr><td>{{ status }}</td>
      <td>{{ prose(r.description) }}
        {% for name in r.headers or {} %}<code>{{ name }}</code> {% endfor %}</td>
      <td>{% for media, content in (r.content or {}).items() %}
        <code>{{ media }}</code> {{ label(content.schema) }}<br>{% endfor %}</td></tr>
    {% endfor %}
  </table>
</section>
{% endfor %}
{% endfor %}

<h2 id="schemas">Schemas</h2>
{% for name, schema in schemas.items() %}
<section id="schema-{{ name }}">
  <h3>{{ name }}</h3>
  {% if schema.description %}<p>{{ prose(schema.description) }}</p>{% endif %}
  {% if schema.allOf %}<p>{{ label(schema) }}, with:</p>{% endif %}
  {% if fields(schema) %}
  <table>
    <tr><th>field</th><th>type</th><th>description</th></tr>
    {% for field, sub, required in fields(schema) %}
    <tr><td><code>{{ field }}</code>{% if required %} *{% endif %}</td>
      <td>{{ label(sub) }}</td><td>{{ prose(sub.description) }}</td></tr>
    {% endfor %}
  </table>
  {% elif not schema.allOf %}<p>{{ label(schema) }}</p>{% endif %}
</section>
{% endfor %}
<p class="muted">* always present (in answers) or required (in requests).</p>
</body>
</html>
"""
