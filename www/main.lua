-- The root app (www/main.lua): every app below inherits these functions unless it defines its
-- own. It accepts every client and logs who comes and goes; apps call super.onConnection to keep
-- the log line.
function onConnection(client, ...)
  INFO('connection from ' .. client.address .. ' (' .. client.protocol .. ') to ' .. client.path)
end

function onDisconnection(client)
  INFO('disconnection of ' .. client.address .. ' from ' .. client.path)
end
