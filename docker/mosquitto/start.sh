#!/bin/sh
# Create the broker's password file from MQTT_USERNAME / MQTT_PASSWORD, then run Mosquitto.
set -eu
: "${MQTT_USERNAME:?set MQTT_USERNAME in .env}"
: "${MQTT_PASSWORD:?set MQTT_PASSWORD in .env}"
umask 077
rm -f /mosquitto/data/passwd
touch /mosquitto/data/passwd
mosquitto_passwd -b /mosquitto/data/passwd "$MQTT_USERNAME" "$MQTT_PASSWORD"
chown mosquitto:mosquitto /mosquitto/data/passwd /mosquitto/data
exec mosquitto -c /mosquitto/config/mosquitto.conf
