-- wrk script: the load generator's send, a Megolm-shaped PUT …/send/m.room.encrypted/{txnId}.
wrk.method = "PUT"
wrk.body = '{"algorithm":"m.megolm.v1.aes-sha2","ciphertext":"' .. string.rep("A", 300)
  .. '","sender_key":"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG","session_id":"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG","device_id":"DEVICEID"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer tok1"
counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, "/_matrix/client/v3/rooms/!r:trivial/send/m.room.encrypted/t" .. counter)
end
