"""The RAG pipeline as an MLflow pyfunc model: `mlflow.pyfunc.load_model("models:/rag-pipeline@champion")`
answers questions with the logged configuration (collection, top_k, retrieval, model...) on the
aistack settings of the process that loads it (its data home, its LLM backend)."""

from __future__ import annotations

import asyncio
from typing import Any

import mlflow.models
import mlflow.pyfunc


class RagPipelineModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        from aistack.evaluation.runner import PipelineConfig

        self.config = PipelineConfig.model_validate(context.model_config)
        self._container: Any = None
        self._loop: asyncio.Runner | None = None

    def _start(self) -> Any:
        if self._container is None:
            from aistack.container import Container
            from aistack.settings import load_settings

            self._loop = asyncio.Runner()
            self._container = Container(load_settings())
            self._loop.run(self._container.start())
        return self._container

    def predict(self, model_input: list[str], params: dict[str, Any] | None = None) -> list[str]:
        """Questions -> answers (MLflow turns a one-column DataFrame into the list)."""
        from aistack.llm.protocol import ChatCompletionRequest

        questions = [str(q) for q in model_input]
        container = self._start()
        answers = []
        for question in questions:
            request = ChatCompletionRequest.model_validate({
                "model": self.config.llm_model, "messages": [{"role": "user", "content": question}],
                "temperature": self.config.temperature, "max_tokens": self.config.max_tokens})
            result = self._loop.run(container.rag.chat(request, self.config.options()))
            answers.append(result["choices"][0]["message"]["content"])
        return answers

    def close(self) -> None:
        if self._container is not None and self._loop is not None:
            self._loop.run(self._container.close())
            self._loop.close()
            self._container = None


# Logged as code ("models from code"): MLflow copies this file and runs it at load time, so no
# pickled object travels with the model.
mlflow.models.set_model(RagPipelineModel())
