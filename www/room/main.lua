-- The "room" demo app: clients share two remote shared objects.
--   "counter" (persistent): one slot per user name holding that user's clicks; the count shown
--     is the sum, so two users clicking at once never lose a click (each writes only its slot).
--   "presence" (transient): one slot per user here, set on arrival, deleted on leaving; the
--     object vanishes with its last user. A user that vanishes without leaving (killed, cut off)
--     is deleted here when its connection ends: the script remembers which slot each client set.
-- Try it: covey serve --shared-object-dir data, then in two terminals
--   node --import tsx scripts/demo/room.ts rtmp://127.0.0.1/room --name alice --stay
--   node --import tsx scripts/demo/room.ts rtmfp://127.0.0.1/room --name bob --stay
-- and press Enter to click.
function onConnection(client, ...)
  super.onConnection(client, ...)
  function client:onSharedObjectChange(name, key, value)
    if name == 'presence' then client.presenceKey = value ~= nil and key or nil end
  end
end

function onDisconnection(client)
  super.onDisconnection(client)
  if client.presenceKey then
    -- Released at once: a hold kept would keep the list loaded after its last user.
    local presence = mona:sharedObject('presence')
    presence:set(client.presenceKey, nil)
    presence:release()
  end
end
