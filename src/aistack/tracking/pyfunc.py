"""The RAG pipeline as an MLflow pyfunc model: `mlflow.pyfunc.load_model("models:/rag-pipeline@champion")`
answers questions with the logged configuration (collection, top_k, retrieval, model...) on the
aistack settings of the process that loads it (its data home, its LLM backend)."""

from __future__ import annotations

from typing import Any

import mlflow.models
import mlflow.pyfunc


class RagPipelineModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        from aistack.evaluation.runner import PipelineConfig

        self.config = PipelineConfig.model_validate(context.model_config)
        self._container: Any = None
        self._portal: Any = None

    def _start(self) -> Any:
        if self._container is None:
            from aistack.container import Container
            from aistack.portal import Portal
            from aistack.settings import load_settings

            self._portal = Portal()
            self._container = Container(load_settings())
            self._portal.call(self._container.start())
        return self._container

    def predict(self, model_input: list[str], params: dict[str, Any] | None = None) -> list[str]:
        """Questions -> answers (MLflow turns a one-column DataFrame into the list)."""
        from aistack.principals import OPERATOR  # the model's host runs it: its operator asks

        knowledge = self._start().knowledge
        options = self.config.options()
        answers = [self._portal.call(knowledge.answer(OPERATOR, self.config.question(str(q)), options))
                   for q in model_input]
        return [a["choices"][0]["message"]["content"] for a in answers]

    def close(self) -> None:
        if self._container is not None:
            self._portal.call(self._container.close())
            self._portal.close()
            self._container = None


# Logged as code ("models from code"): MLflow copies this file and runs it at load time, so no
# pickled object travels with the model.
mlflow.models.set_model(RagPipelineModel())
