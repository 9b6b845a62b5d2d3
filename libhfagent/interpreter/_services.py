"""Service names in requests → systemd unit names (without ``.service``).

The aliases people type (apache, postgres, sshd, mysql) map to the Debian unit
names; the units installed on the machine, when known, settle the ambiguous
ones (mysql → mariadb where MariaDB is installed) and let any installed unit
be named. Reading the unit directories is the only I/O here
(:func:`installed_units`); :class:`ServiceCatalog` is pure.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence

__all__ = ["KNOWN_SERVICES", "UNIT_DIRS", "ServiceCatalog", "installed_units"]

#: Where systemd keeps unit files on Debian (vendor, then local).
UNIT_DIRS: tuple[str, ...] = (
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/etc/systemd/system",
)

#: Services an administrator commonly names, by their Debian unit name.
KNOWN_SERVICES: frozenset[str] = frozenset(
    """
    nginx apache2 postgresql mariadb mysql ssh cron docker containerd redis-server memcached
    postfix exim4 dovecot named fail2ban ufw rsyslog systemd-journald systemd-timesyncd
    systemd-resolved systemd-networkd networking networkmanager haproxy varnish mongod
    elasticsearch grafana-server prometheus jenkins tomcat9 smbd nmbd nfs-server
    avahi-daemon cups bluetooth apparmor chrony ntpsec unattended-upgrades hf-agentd
    rabbitmq-server openvpn squid lighttpd caddy traefik gitlab-runner libvirtd snapd
    php8.2-fpm php-fpm nftables rsync smartmontools smartd polkit dbus packagekit kubelet
    podman zabbix-agent nagios-nrpe-server collectd telegraf influxdb minidlna
    transmission-daemon plexmediaserver vsftpd proftpd isc-dhcp-server dnsmasq keepalived
    slapd
    """.split()  # noqa: SIM905
)

#: What people type → the Debian unit name. ``mysql`` is settled by the installed units.
_ALIASES: dict[str, str] = {
    "apache": "apache2",
    "httpd": "apache2",
    "postgres": "postgresql",
    "postgre": "postgresql",
    "pgsql": "postgresql",
    "psql": "postgresql",
    "sshd": "ssh",
    "openssh": "ssh",
    "openssh-server": "ssh",
    "redis": "redis-server",
    "bind": "named",
    "bind9": "named",
    "samba": "smbd",
    "crond": "cron",
    "journald": "systemd-journald",
    "timesyncd": "systemd-timesyncd",
    "resolved": "systemd-resolved",
    "networkd": "systemd-networkd",
    "network-manager": "networkmanager",
    "mongodb": "mongod",
    "grafana": "grafana-server",
    "tomcat": "tomcat9",
    "rabbitmq": "rabbitmq-server",
    "nfs": "nfs-server",
    "avahi": "avahi-daemon",
    "ntp": "ntpsec",
    "ntpd": "ntpsec",
    "chronyd": "chrony",
    "dockerd": "docker",
    "fpm": "php-fpm",
    "hf-agent": "hf-agentd",
}

# Units whose names are ordinary words in a request; named only as "X.service" or "service X".
_GENERIC = frozenset(
    """
    user rescue emergency halt reboot poweroff exit kexec suspend hibernate rc rcs kmod
    procps hwclock quotaon man-db e2scrub_all fstrim debug-shell console-getty getty-static
    system-update-cleanup x11-common cryptdisks cryptdisks-early dpkg-db-backup apt-daily
    apt-daily-upgrade rc-local initrd-cleanup initrd-parse-etc initrd-switch-root
    initrd-udevadm-cleanup-db kmod-static-nodes modprobe pam_namespace
    """.split()  # noqa: SIM905
)

_TOKEN = re.compile(r"[a-z0-9][a-z0-9@._+-]*[a-z0-9]|[a-z0-9]")
_AFTER_KEYWORD = re.compile(
    r"\b(?:service|services|unit|unite|daemon|demon)\s+(?:de\s+|d'|du\s+|the\s+|le\s+|la\s+)?"
    r"([a-z0-9][a-z0-9@._+-]*)"
)
_BEFORE_KEYWORD = re.compile(r"\b([a-z0-9][a-z0-9@._+-]*)\s+(?:service|daemon|unit)\b")
_STOP = frozenset(
    """
    le la les de du des the a an un une is est sur on of for pour qui that which web status
    statut etat state de nouveau again now maintenant please stp svp immediately et and
    this that my mon ce cette all tous every each any some
    """.split()  # noqa: SIM905
)


def installed_units(dirs: Sequence[str] = UNIT_DIRS) -> frozenset[str]:
    """The service units installed on the machine, without ``.service`` (templates left out).

    Args:
        dirs: The unit directories to list.

    Returns:
        Unit names; empty when no directory can be read.
    """
    out: set[str] = set()
    for d in dirs:
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for name in names:
            if name.endswith(".service") and not name.endswith("@.service"):
                out.add(name[: -len(".service")].casefold())
    return frozenset(out)


class ServiceCatalog:
    """Resolves the service names of a request against aliases and installed units.

    Args:
        units: The machine's service units (see :func:`installed_units`), or
            ``None`` when unknown: the Debian names are assumed.
    """

    def __init__(self, units: Iterable[str] | None = None) -> None:
        self.units = frozenset(u.casefold() for u in units) if units is not None else None
        known = set(KNOWN_SERVICES)
        if self.units is not None:
            known |= {u for u in self.units if u not in _GENERIC and len(u) >= 3}
        self._names = frozenset(known)

    @property
    def words(self) -> frozenset[str]:
        """Every name and alias the catalog recognises (for the typo corrector)."""
        return self._names | frozenset(_ALIASES)

    def resolve(self, name: str) -> str:
        """The unit name for what a person typed (``apache`` → ``apache2``, no ``.service``)."""
        name = name.casefold().removesuffix(".service")
        if name in ("mysql", "mysqld", "mysql-server", "mariadb-server"):
            if self.units is not None and "mysql" in self.units and "mariadb" not in self.units:
                return "mysql"
            return "mariadb"
        return _ALIASES.get(name, name)

    def find(self, text: str) -> str | None:
        """The first service a folded request names, resolved, or ``None``."""
        for m in _TOKEN.finditer(text):
            token = m.group()
            if token.endswith(".service"):
                return self.resolve(token)
            if token in self._names or token in _ALIASES:
                if text[m.end() : m.end() + 1] == "/" or text[m.start() - 1 : m.start()] == "/":
                    continue  # part of a path (/var/log/nginx)
                return self.resolve(token)
        for rx in (_AFTER_KEYWORD, _BEFORE_KEYWORD):
            named = rx.search(text)
            if named is not None and named.group(1) not in _STOP and not named.group(1).isdigit():
                return self.resolve(named.group(1))
        return None
