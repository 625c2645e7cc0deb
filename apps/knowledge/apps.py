from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    """The knowledge base: uploaded documents, the task that processes each, and the chunks
    with their vectors that a unit stores and a search reads. Beside execution, over tasks."""

    name = "apps.knowledge"
    label = "knowledge"
    verbose_name = "Knowledge base"
