"""The seed post's Python server: Flask's development server answering a constant string.

Kept as the post wrote it (``app.run``, the development server with its per-request log line) so
that its req/s can be replicated. Only the port is a flag, so that the bench can pick a free one.

    python -m bench.toy.flask_app --port 5000
"""

import argparse

from flask import Flask

app = Flask(__name__)


@app.route("/predict")
def predict():
    return "Prediction: Iris-Setosa"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    app.run(host=args.host, port=args.port)
