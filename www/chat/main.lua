-- The "chat" app: RPC both ways. A client calls send(text) (NetConnection.call("send", null,
-- "hello")); every other client of the app gets onMessage(from, text) called on its
-- NetConnection.client. The first connect argument is the name shown to the others. The count of
-- messages ever sent survives restarts (data is saved to disk).
data.messages = data.messages or 0

function onConnection(client, name)
  super.onConnection(client)
  client.name = type(name) == 'string' and name or ('guest-' .. client.id:sub(1, 6))

  function client:send(text)
    text = tostring(text)
    if #text > 1000 then error('a message has at most 1000 characters', 0) end
    data.messages = data.messages + 1
    for id, other in pairs(mona.clients) do
      if other ~= self then other:writeInvocation('onMessage', self.name, text) end
    end
    return data.messages
  end

  return { name = client.name }
end
