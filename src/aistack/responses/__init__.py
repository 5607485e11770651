"""OpenAI's Responses API over aistack's chat: translation, typed stream events, stored responses."""
