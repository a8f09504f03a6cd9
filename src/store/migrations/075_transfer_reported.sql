-- The final result (booted, failed, rolled_back) a device reported for this transfer since it was last
-- offered (POST /r, src/coap/PROTOCOL.md): a device that loses power after sending its report but before
-- storing that it did sends it again at the next boot; the gateway records one result per update.
-- NULL: none yet; a check-in that offers the patch again clears it.
ALTER TABLE transfers ADD COLUMN reported TEXT;
