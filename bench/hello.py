"""The baseline web app: a bare Flask hello-world, served by gunicorn with the same settings."""
from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return "hello"


@app.get("/healthz")
def healthz():
    return "ok"
