"""A local Telegram Bot API server for the demo and the tests; it never imports `telegram`.

`python -m fakegram [--host H] [--port 0] [--api-json PATH] [--rate-limits]` prints
`{"ready": true, "port": N}` once listening. The bot talks to `/bot<token>/<method>` (any
`<digits>:<secret>` token is its own bot) and downloads from `/file/bot<token>/<path>`; every call
is validated against api.json and answered in Telegram's shape. `fakegram.client` starts it and
wraps the control API below (JSON in, JSON out; mistakes answer 4xx `{"ok": false, "error"}`).

Setup
  POST /control/reset                        forget everything (update ids keep increasing)
  POST /control/users                        {first_name, id?, last_name?, username?,
                                              language_code?, started?} -> User; private chat id
                                              = user id. The bot may write first only after the
                                              person wrote to it, or if started=true (else 403).
  POST /control/users/{id}/block             {bot_token, blocked} -> the person blocks the bot
  POST /control/groups                       {title, type?, members: [{user_id, status}],
                                              bot_token?, bot_status?, username?} -> Chat
  POST /control/groups/{id}/members          {user_id, status, by_user_id?} (user_id may be a
                                              bot's id: then my_chat_member) -> ChatMember
  POST /control/groups/{id}/migrate          {bot_token} -> the new supergroup Chat
  POST /control/groups/{id}/remove_bot       {bot_token, by_user_id?}
  POST /control/files                        {data_b64, file_name?, mime_type?, kind?:
                                              "document"|"photo"} -> {file_id, ...}
People act (each queues an update; a non-admin bot in a group sees only commands and replies
to its own messages, as with privacy mode on)
  POST /control/send                         {bot_token, user_id, chat_id?, text | photo_b64 |
                                              document_b64 (+file_name, mime_type,
                                              document_size?) | location | venue | sticker |
                                              voice | contact, caption?, reply_to_message_id?,
                                              entities?} -> {message, update_id}
  POST /control/edit_location                {bot_token, user_id, chat_id?, message_id,
                                              latitude, longitude} -> {message, update_id}
  POST /control/press                        {bot_token, user_id, chat_id, message_id, data}
                                              -> {callback_query_id, update_id, offered}; data
                                              the keyboard no longer shows is sent anyway (a
                                              stale screen or a forged press): offered=false
The test's eyes
  GET  /control/callback_answer/{id}?timeout=5  -> {answered, text, show_alert, url}
  GET  /control/chats/{id}/messages          every message, + from_bot, edits, deleted, history
  GET  /control/chats/{id}/keyboard          the reply keyboard shown, or null
  GET  /control/events?since=N&timeout=S     long poll -> {events: [{seq, kind, chat_id,
                                              message_id, method, message?, ...}], last};
                                              kind: sent|edited|deleted|answered|api_error;
                                              since=-1 answers at once with just `last`
  GET  /control/stats                        {calls, errors, rate_limited, faults_triggered,
                                              by_chat, pending_updates}
Knobs
  POST/GET/DELETE /control/faults            {method|"*", kind: 429|500|502|slow|drop|
                                              drop_after, count, chat_id?, retry_after?, delay?}
  POST /control/rate_limits                  {enabled, overall_per_s?, private_per_s?,
                                              private_burst?, group_per_min?,
                                              group_window_s?}
"""
