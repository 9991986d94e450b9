"""The chatbot service: chatbots, personalities, placement rules, embed ids and visitor identity."""
