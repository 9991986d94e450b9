"""The AI domain: answer providers with failover, prompts, citations, sentiment, intent, animation and costs."""
