"""The original maintenance app, rewritten from its description for the benchmark.

Behaviours: / -> 200 "INDEX: <message>"; /503 -> 503 "<h1>503 <message></h1>"; /json -> 200 JSON;
any other path -> 200 "FALLBACK trying to reach /<path>: <message>". The message comes from
MAINTENANCE_MESSAGE. Run as its Procfile does (python maintenance.py, Flask's built-in server on
$PORT), or under gunicorn as maintenance:app. HOST (default 0.0.0.0) lets the benchmark bind to
the loopback address only.
"""

import os

from flask import Flask, jsonify

MESSAGE = os.environ.get(
    "MAINTENANCE_MESSAGE",
    "We are doing some planned maintenance and will be back soon.",
)

app = Flask(__name__)


@app.route("/")
def index():
    return "INDEX: " + MESSAGE


@app.route("/503")
def unavailable():
    return "<h1>503 " + MESSAGE + "</h1>", 503


@app.route("/json")
def as_json():
    return jsonify(message=MESSAGE)


@app.route("/<path:path>")
def fallback(path):
    return "FALLBACK trying to reach /" + path + ": " + MESSAGE


if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "0.0.0.0"), port=int(os.environ.get("PORT", "5000")))
