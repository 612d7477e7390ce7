-- The "live" app: anyone may publish and play, unless a secret is configured
-- (COVEY_APP_LIVE_SECRET=... in the server's environment). Then the connect arguments must be a
-- user name and its token, the hex HMAC-SHA256 of the user name under the secret (a token the
-- operator hands out, as rtmfp-cpp's tcserver checks its clients' HMACs):
--   printf %s "$USER" | openssl dgst -sha256 -hmac "$SECRET"
--   NetConnection.connect("rtmfp://host/live", user, token)
function onConnection(client, user, token)
  super.onConnection(client)
  local secret = mona.config.LIVE_SECRET
  if secret == nil or secret == '' then return end
  if type(user) ~= 'string' or type(token) ~= 'string' then
    error('this server needs a user name and a token in the connect arguments', 0)
  end
  if mona.hex(mona.hmac(mona.SHA256, secret, user)) ~= token:lower() then
    error('bad token for ' .. user, 0)
  end
end
