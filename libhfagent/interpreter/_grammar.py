"""The lexicon/grammar layer: cue words per intent, and the entities each intent takes.

Pure: folded (and typo-corrected) text in, scored intents and entities out.
Each cue is a regex on folded text with a weight (negative weights are
counter-cues); an intent's score is the sum of the weights of its cues found,
plus what the entities found say (a service named, a schedule, a path…).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from ._cron import find_schedule
from ._entities import (
    find_count,
    find_device,
    find_ips,
    find_older_than,
    find_paths,
    find_pattern,
    find_port,
    find_since,
    find_size,
    find_source,
    find_status,
)
from ._services import ServiceCatalog

__all__ = [
    "LEXICON_WORDS",
    "Features",
    "cleanup_method",
    "entities_for",
    "features",
    "packages_mode",
    "score_intents",
    "split_task",
]

_CLEAN_VERB = (
    r"\b(?:liber\w*|nettoi\w*|nettoy\w*|clean\w*|purg\w*|supprim\w*|effac\w*|delet\w*|"
    r"remov\w*|vid(?:e|er|ez|es)|empty|compress\w*|vacuum\w*|rotat\w*|"
    r"debarrass\w*|menage|degag\w*|vire|virer|virez|jette|jeter|trash|wipe|erase|"
    r"quarantaine|quarantine|move aside|mets? de cote|mettre de cote|get rid|reclaim|recuper\w*|"
    r"fais de la place|make room|free up|free (?:some|more) (?:disk )?space|trim|shrink|reduis|"
    r"reduire|reduce|prune|elagu\w*|zip|gzip|archiv\w*)\b"
)
_CLEAN_OBJECT = (
    r"\b(?:logs?|journa(?:l|ux)|tmp|temp|temporaires?|temporary|caches?|apt|espace|space|place|"
    r"disques?|disk|vieux|vieilles|anciens?|anciennes?|old|stale|obsoletes?|rotated|rotates|"
    r"archives?|\.gz|core dumps?|dumps?|corbeille|trash|paquets|packages|fichiers temporaires|"
    r"temp files)\b"
)
_LOG_NOUN = (
    r"\b(?:logs?|journaux|journal|access\.log|error\.log|syslog|auth\.log|dmesg|kern\.log|"
    r"messages du noyau|kernel messages|journalctl|entrees? de log|log entries|log files?)\b"
)

# (regex, weight) per intent, on folded text.
_CUES: dict[str, tuple[tuple[str, float], ...]] = {
    "logs.summarize": (
        (_LOG_NOUN, 0.45),
        (
            r"\b(?:analys\w*|resum\w*|summar\w*|synthe\w*|rapport|report|examin\w*|inspect\w*|"
            r"epluch\w*|parcour\w*|digest|que disent|disent|say|says|what's in|quoi de neuf|"
            r"passe en revue|review|decortiqu\w*|go through|look through|dig into|explique|"
            r"explain|statistiques?|stats|bilan|recap\w*|overview|apercu|tendances?|trends?)\b",
            0.3,
        ),
        (
            r"\b(?:erreurs?|errors?|requetes?|requests?|hits?|acces|access|visites?|trafic|"
            r"traffic|warnings?|avertissements?|exceptions?|crash\w*|plantages?|status codes?|"
            r"codes? (?:http|de retour|de statut)|[45]xx|timeouts?|refus\w*|denied|"
            r"messages?|evenements?|events?)\b",
            0.2,
        ),
        (r"(?<![\w.])[1-5]\d\d(?![\w.])", 0.15),
        (r"\b(?:nginx|apache2?|httpd)\b", 0.15),
        (r"\b(?:not found|introuvables?|pages? manquantes?)\b", 0.15),
        (r"\b(?:combien de|how many)\b", 0.1),
        (_CLEAN_VERB, -0.5),
        (r"\b(?:taille|size|how big|combien (?:de place|d'espace|pesent|pese))\b", -0.3),
        (r"\b(?:ssh|sshd|brute.?force|force brute|intrus\w*)\b", -0.15),
    ),
    "security.audit": (
        (r"\b(?:brute[- ]?force|force brute|bruteforce|dictionary attack)\b", 0.6),
        (
            r"\b(?:tentatives?|attempts?|echecs?|echouee?s?|failed|failures?|fails?|ratee?s?|"
            r"invalid|invalides?|refusee?s?|rejected|rejetee?s?|mauvais mots? de passe|"
            r"wrong passwords?|bad passwords?)\b",
            0.3,
        ),
        (
            r"\b(?:connexions?|connections?|logins?|authentifications?|authentications?|"
            r"identifications?|se connecter|connect\w*|log in|logged in|s'est connecte|"
            r"sont connectes|signed in|sign-?ins?|auth\.log|sessions?)\b",
            0.3,
        ),
        (
            r"\b(?:ssh|sshd|intrus\w*|attaques?|attacks?|attaquants?|attackers?|securite|security|"
            r"pirates?|hackers?|suspects?|suspicious|suspicieu\w*|malveillant\w*|malicious|"
            r"fail2ban|bannir|ban|offenders?|scan de securite|sudo|root login)\b",
            0.3,
        ),
        (
            r"\b(?:qui s'est connecte|who logged in|who has logged|qui a essaye|who tried|"
            r"break in|get into|penetrer|attaqu\w*|attack\w*|scan\w*|audit\w*)\b",
            0.3,
        ),
        (r"\b(?:mises? a jour|updates?|upgrades?|paquets?|packages?|correctifs?|patch\w*)\b", -0.5),
        (r"\b(?:ports?|ecoute|listening)\b", -0.3),
    ),
    "system.status": (
        (
            r"\b(?:comment va|comment se porte|comment vont|how is|how's|how are|hows|ca va|"
            r"is everything ok|tout va bien|everything (?:ok|fine|alright)|tout roule|"
            r"is .* (?:ok|okay|alright|healthy))\b",
            0.5,
        ),
        (
            r"\b(?:etat|sante|health|healthy|status|statut|overview|apercu|bilan|"
            r"vue d'ensemble|resume de l'etat|check-?up|diagnostic|diag|tableau de bord|"
            r"dashboard|summary)\b",
            0.4,
        ),
        (
            r"\b(?:machine|serveur|server|systeme|system|host|hote|box|vm|becane|ordi\w*|node)\b",
            0.2,
        ),
        (r"\b(?:charge|load|uptime|cpu|processeur|processor|memoire|memory|ram|swap)\b", 0.35),
        (
            r"\b(?:utilisation|usage|consommation|utilise(?:e|s)?|used|libre|free|quelle est|"
            r"what's|whats|what is|how much|combien|current|actuelle?|right now|en ce moment|"
            r"average|"
            r"moyenne)\b",
            0.2,
        ),
        (
            r"\b(?:depuis combien de temps|how long has|allume depuis|up since|en ligne depuis)\b",
            0.3,
        ),
        (_LOG_NOUN, -0.3),
        (
            r"\b(?:processus|process(?:es)?|programmes?|apps?|mange\w*|bouff\w*|eating|eats|"
            r"hog\w*|monopolis\w*|gourmand\w*)\b",
            -0.3,
        ),
        (r"\b(?:espace|space|place)\b", -0.3),
    ),
    "disk.usage": (
        (
            r"\b(?:espace (?:disque|libre|restant|disponible|utilise|occupe)|disk space|"
            r"free space|space left|space remaining|espace restant|"
            r"place (?:restante|libre|dispo\w*)|"
            r"disk usage|utilisation (?:du |des )?disques?|how full|rempli\w*|plein|full|df|du|"
            r"stockage|storage|occupation)\b",
            0.5,
        ),
        (
            r"\b(?:espace|space|place|taille|size|how big|pese|pesent|weigh\w*|volume|"
            r"combien de place|how much (?:disk|space|room)|room left)\b",
            0.3,
        ),
        (
            r"\b(?:prend|prennent|occupe|occupent|takes?|taking|uses?|using|consomme|mange|eats?|"
            r"eating|bouffe)\b",
            0.15,
        ),
        (
            r"\b(?:disques?|disks?|partitions?|filesystems?|systemes? de fichiers|volumes?|"
            r"dossiers?|"
            r"directories|directory|repertoires?|folders?)\b",
            0.15,
        ),
        (
            r"\b(?:prend|prennent|occupe|occupent|takes?|taking|uses?|using|eats?|eating|mange)\s+"
            r"(?:\w+\s+){0,3}(?:place|space|room|espace)\b|"
            r"\b(?:how big|combien pese\w*|taille d\w*|"
            r"size of|how large)\b",
            0.3,
        ),
        (
            r"\b(?:espace|place|space|room)\b.{0,20}\b(?:reste\w*|left|remaining|dispo\w*|"
            r"available|libre|free)\b|\b(?:reste|remains?)\b.{0,20}\b(?:espace|place|space|room)\b",
            0.25,
        ),
        (_CLEAN_VERB, -0.5),
        (r"\b(?:fichiers?|files?)\b", -0.1),
        (r"\b(?:smart|sante|health|secteurs?|sectors?|defaillant|failing)\b", -0.3),
    ),
    "files.find": (
        (
            r"\b(?:trouv\w*|cherch\w*|recherch\w*|find|search\w*|locat\w*|list\w*|"
            r"montre|show|affiche|which|quels|quelles|repere|identifi\w*|spot|where are|"
            r"ou sont|get me|donne)\b",
            0.2,
        ),
        (
            r"\b(?:fichiers?|files?|gros fichiers|big files|documents?|images?|isos?|videos?)\b",
            0.35,
        ),
        (
            r"\b(?:plus gros|plus grands|plus lourds|plus volumineux|biggest|largest|heaviest|"
            r"huge|enormes?|gros|big|large|lourds|volumineux|anciens?|old|older|vieux|vieilles|"
            r"plus vieux|oldest|stale|non modifies?|not modified|untouched|inutilises?|unused)\b",
            0.25,
        ),
        (_CLEAN_VERB, -0.55),
        (r"\b(?:logs?|journaux)\b", -0.1),
    ),
    "disk.health": (
        (r"\b(?:smart|smartctl|smartd|s\.m\.a\.r\.t)\b", 0.6),
        (
            r"\b(?:disques?|disks?|ssd|hdd|drives?|nvme|sda|sdb|/dev/\w+|hard drive|disque dur)\b",
            0.25,
        ),
        (
            r"\b(?:sante|health|healthy|etat|defaillan\w*|failing|fail\w*|mourir|mourant|dying|"
            r"dies|secteurs?|sectors?|usure|wear\w*|s'use|s'usent|use-t-il|"
            r"erreurs? (?:d'e/s|i/o|io|disque|de lecture|"
            r"d'ecriture)|i/o errors?|io errors?|read errors?|write errors?|reallocated|fiable|"
            r"reliable|lacher|lache|panne|broken|abime|endommage|damaged|bad blocks?|"
            r"blocs? defectueux|defectueux|faulty|precurseurs|signes?|signs?|latence|latency|"
            r"temperature|surchauffe|bon etat|good shape|good condition|ok)\b",
            0.4,
        ),
        (r"\b(?:espace|space|place|plein|full|libre|free|taille|size|combien)\b", -0.4),
        (_CLEAN_VERB, -0.4),
    ),
    "service.restart": (
        (
            r"\b(?:redemarr\w*|relanc\w*|restart\w*|re-?start\w*|reload\w*|recharg\w*|"
            r"reboot\w*|rebounce|bounce|cycle|kick|reinitialis\w*|reset)\b",
            0.5,
        ),
    ),
    "service.start": (
        (
            r"\b(?:demarr\w*|lanc(?:e|er|ez|es)|start(?:s|ed|ing)?|launch\w*|mets? en route|"
            r"mettre en route|allum\w*|bring up|spin up|fire up|boot up|turn on|switch on|"
            r"active|activer|activez|enable|reveill\w*)\b",
            0.45,
        ),
        (r"\b(?:redemarr\w*|relanc\w*|restart\w*|re-?start\w*|reload\w*)\b", -0.45),
    ),
    "service.stop": (
        (
            r"\b(?:arret\w*|stop\w*|coupe|couper|coupez|eteins|eteindre|eteignez|shut ?down|"
            r"shut off|turn off|switch off|kill|tue|tuer|halt|desactiv\w*|disable|terminate|"
            r"bring down|take down|mets? en pause|pause)\b",
            0.5,
        ),
    ),
    "service.status": (
        (
            r"\b(?:status|statut|etat|state|tourne|tournent|running|run|fonctionne\w*|"
            r"marche|marchent|works?|working|actif|active|alive|vivant|en vie|up|down|"
            r"plante|crashed|crash|dead|mort|en marche|en route|repond|responding|is it ok|"
            r"est-il ok|healthy|bien|ok|check|verifi\w*)\b",
            0.35,
        ),
        (r"\b(?:est-ce que|is|does|est-il|est il|tourne-t-il|-t-il|is the|are)\b", 0.1),
        (
            r"\b(?:attempts?|tentatives?|intrus\w*|brute|attaqu\w*|attack\w*|failed|echou\w*|"
            r"logins?|connexions?|logs?|journaux|ports?|ecoute|listening)\b",
            -0.4,
        ),
    ),
    "process.top": (
        (
            r"\b(?:processus|process(?:es)?|programmes?|programs?|apps?|applications?|taches|"
            r"tasks|pid|pids|top|htop|ps)\b",
            0.4,
        ),
        (
            r"\b(?:qui mange|qui bouffe|qui consomme|qui utilise|qui prend|qui monopolise|"
            r"who is (?:eating|using|hogging)|what is (?:eating|using|hogging)|what's (?:eating|"
            r"using|hogging)|whats (?:eating|using|hogging)|hog\w*|gourmand\w*|greed\w*|"
            r"hungr\w*|heaviest|plus lourds|les plus|the most|most|top|eats?|eating|mange\w*|"
            r"bouff\w*|consomm\w*|monopolis\w*|devor\w*|pompe\w*|chews?|burn\w*)\b",
            0.4,
        ),
        (r"\b(?:cpu|processeur|processor|memoire|memory|ram)\b", 0.15),
        (
            r"\b(?:eating|eats|mange|mangent|bouffe|bouffent|hogging|hogs?|monopolis\w*|"
            r"devor\w*|chewing|burning)\s+(?:\w+\s+){0,2}(?:cpu|processeur|processor|memoire|"
            r"memory|ram)\b",
            0.2,
        ),
        (r"\b(?:fichiers?|files?|disques?|disks?|dossiers?|espace|space|place)\b", -0.4),
        (_CLEAN_VERB, -0.3),
    ),
    "packages.update": (
        (
            r"\b(?:mises? a jour|mets? a jour|mettre a jour|mis a jour|mise a niveau|"
            r"mis a niveau|maj|"
            r"updates?|updat\w*|upgrad\w*|actualis\w*|"
            r"correctifs?|patch\w*)\b",
            0.55,
        ),
        (
            r"\b(?:paquets?|packages?|apt|apt-get|logiciels?|software|debian|systeme|system|dist-upgrade|"
            r"securite|security|cve|disponibles?|available|pending|en attente|installer|install\w*|"
            r"applique\w*|apply)\b",
            0.25,
        ),
        (r"\b(?:logs?|journaux)\b", -0.3),
    ),
    "backup.sync": (
        (
            r"\b(?:sauvegard\w*|backups?|back up|backing up|rsync|synchronis\w*|synchroniz\w*|"
            r"sync\w*|mirror\w*|replique\w*|replicat\w*|dupliqu\w*|duplicat\w*|copie\w*|copy|"
            r"copies|copying|clone\w*|snapshot)\b",
            0.5,
        ),
        (r"\b(?:vers|to|into|dans|sur|onto|towards|destination|on)\b", 0.1),
    ),
    "schedule.add": (
        (
            r"\b(?:planifi\w*|programm\w*|schedul\w*|automatis\w*|automat\w*|cron\w*|"
            r"tache (?:planifiee|recurrente|periodique)|recurring|periodic\w*|regularly|"
            r"regulierement|repete\w*|repeat\w*|plan a|set up a job|ajoute une tache|add a job)\b",
            0.35,
        ),
    ),
    "network.listening": (
        (
            r"\b(?:ecout\w*|listen\w*|netstat|ss -\w+|lsof -i|bound|bind|exposes?|"
            r"exposed|ouverts?|open|accessibles? depuis|reachable)\b",
            0.35,
        ),
        (
            r"\b(?:ports?|tcp|udp|network|reseau|services reseau|network services|sockets?|"
            r"en ecoute)\b",
            0.4,
        ),
        (r"\b(?:who|qui|what|quoi|quels?|quelles?|which|liste|list|show|montre|affiche)\b", 0.05),
        (_LOG_NOUN, -0.3),
    ),
    "resources.optimize": (
        (
            r"\b(?:optimi\w*|right-?siz\w*|dimensionn\w*|redimension\w*|sur-?dimensionn\w*|"
            r"sous-?dimensionn\w*|over-?provision\w*|under-?provision\w*|oversiz\w*|undersiz\w*|"
            r"tun(?:e|ing)|ajust\w*|adjust\w*|econom\w*|gaspill\w*|wast\w*|capacit\w*|"
            r"capacity planning|planification de capacite|dimensionnement)\b",
            0.5,
        ),
        (
            r"\b(?:conseils?|advice|advise|recommand\w*|recommend\w*|suggest\w*|"
            r"propositions?|should i|dois-je|faut-il|est-ce que je dois|need more|besoin de plus|"
            r"trop de|too much|too many|enough|assez|suffisant\w*|reduire|reduce|add more|"
            r"ajouter de la|upgrade (?:the )?(?:ram|cpu|memory)|downsiz\w*|usage history|"
            r"historique)\b",
            0.3,
        ),
        (
            r"\b(?:ressources?|resources?|ram|cpu|memoire|memory|vcpus?|coeurs?|cores?|instance|"
            r"vm|machine|serveur|server)\b",
            0.2,
        ),
        (
            r"\b(?:need more|besoin de plus|ajouter de la|ajouter du|add more|trop de|too much|"
            r"reduire la consommation|reduce (?:the )?consumption)\s*(?:\w+\s+)?(?:de |d')?"
            r"(?:ram|cpu|memoire|memory|processeur|ressources|resources|coeurs|cores)\b",
            0.3,
        ),
        (r"\b(?:paquets?|packages?|apt|mises? a jour)\b", -0.3),
    ),
}
_COMPILED = {k: tuple((re.compile(p), w) for p, w in v) for k, v in _CUES.items()}

#: Words the typo corrector may correct towards (beyond the exemplars').
LEXICON_WORDS: frozenset[str] = frozenset(
    """
    analyse analyser analyze analyse resume resumer summarize summarise summary synthese
    rapport report examine inspect erreurs errors requetes requests visites trafic traffic
    warnings avertissements journaux journal logs introuvables tentatives attempts echecs
    echouees failed failures connexions connections logins authentification authentication
    identification intrusion intrusions attaques attacks securite security pirates hackers
    suspicious suspectes brute force comment machine serveur server systeme system health
    status statut overview apercu charge memoire memory uptime espace disque disques space
    disk usage utilisation libre restant disponible taille stockage storage partition
    partitions dossiers processor processors cores coeurs dossier directories directory
    repertoire repertoires folders fichiers files trouve trouver cherche chercher recherche
    find search locate liste lister montre affiche biggest largest heaviest volumineux
    anciens vieux older oldest modifies modified smart sante secteurs sectors defaillant
    failing usure wear reallocated redemarre redemarrer redemarrage relance relancer restart
    reload recharge demarre demarrer demarrage lance lancer start launch allume arrete
    arreter arret stoppe stopper stop eteins eteindre shutdown desactive disable service
    services tourne running fonctionne marche processus process processes programmes
    programs applications consomme consomment mange bouffe gourmand gourmands hungry hogging
    processeur mises jour update updates upgrade paquets packages correctifs patches
    disponibles available pending installe installer install sauvegarde sauvegarder backup
    synchronise synchroniser synchronize rsync copie copier copy replique mirror planifie
    planifier programme programmer schedule automatise automate tache recurrente recurring
    chaque tous toutes every minutes heures heure hours hour jours jour days semaine
    semaines weeks week mois month months lundi mardi mercredi jeudi vendredi samedi
    dimanche lundis mardis mercredis jeudis vendredis samedis dimanches monday tuesday
    wednesday thursday friday saturday sunday mondays tuesdays wednesdays thursdays fridays
    saturdays sundays weekdays weekend matin soir minuit midnight morning evening night
    ecoute ecoutent listening listen ouverts open ports reseau network sockets optimise
    optimiser optimize optimisation optimization dimensionnement redimensionner conseils
    advice recommandations recommendations suggestions ressources resources libere liberer
    liberez nettoie nettoyer nettoyage clean cleanup purge purger supprime supprimer
    suppression delete remove efface effacer vider empty compresse compresser compress
    archive archiver quarantaine quarantine temporaires temporary cache caches vieilles
    anciennes dernieres derniers derniere dernier depuis since hier yesterday aujourd today
    semaine cette heures quotidiennement daily weekly monthly hourly quotidien hebdomadaire
    mensuel plus moins than older bigger larger greater smaller octets bytes mega giga gigas
    megas kilos nginx apache apache2 postgresql postgres mariadb mysql docker redis cron
    fail2ban rsyslog journald kernel noyau syslog dmesg authorized everything machine
    combien quelle quelles quels which where what whats
    """.split()  # noqa: SIM905
)


def score_intents(text: str, catalog: ServiceCatalog | None = None) -> dict[str, float]:
    """Score each intent for a folded request (a sum of cue weights; higher is likelier)."""
    return features(text, catalog).scores


class Features:
    """The grammar's reading of a request: intent scores and what it found.

    Attributes:
        scores: Per-intent scores.
        service: The service named, if any.
        paths: The absolute paths named.
        schedule_cron: The cron expression of a schedule phrase, if any.
        cleanup_object: Whether a cleanup request names what to clean.
    """

    __slots__ = ("cleanup_object", "paths", "schedule_cron", "scores", "service")

    def __init__(
        self,
        scores: dict[str, float],
        service: str | None,
        paths: list[str],
        schedule_cron: str | None,
        cleanup_object: bool,
    ) -> None:
        self.scores = scores
        self.service = service
        self.paths = paths
        self.schedule_cron = schedule_cron
        self.cleanup_object = cleanup_object


def _has(pattern: str, text: str) -> bool:
    return re.search(pattern, text) is not None


def features(text: str, catalog: ServiceCatalog | None = None) -> Features:
    """Score the intents of a folded request and note the entities that decide between them."""
    catalog = catalog or ServiceCatalog()
    scores: dict[str, float] = {}
    for intent, cues in _COMPILED.items():
        scores[intent] = sum(w for rx, w in cues if rx.search(text))
    service = catalog.find(text)
    paths = find_paths(text)
    schedule = find_schedule(text)
    clean_verb = _has(_CLEAN_VERB, text)
    cleanup_object = bool([p for p in paths if p != "/"]) or _has(_CLEAN_OBJECT, text)

    # disk.cleanup: a cleanup verb, what to clean.
    cleanup = 0.0
    if clean_verb:
        cleanup += 0.5
        if cleanup_object:
            cleanup += 0.35
    elif _has(r"\b(?:trop (?:de|plein)|saturee?|full|plein|manque de place|running out)\b", text):
        cleanup += 0.1
    if _has(
        r"\b(?:libere|liberer|liberez|free up|reclaim|recuper\w*|fais de la place|make room)\b",
        text,
    ):
        cleanup += 0.15
    scores["disk.cleanup"] = cleanup

    # Services: a service named is what the four service intents need.
    if service is not None:
        for intent in ("service.restart", "service.start", "service.stop", "service.status"):
            if scores[intent] > 0:
                scores[intent] += 0.35
        scores["system.status"] -= 0.25
        if not _has(r"\b(?:logs?|journaux|erreurs?|errors?)\b", text):
            scores["logs.summarize"] -= 0.1
    else:
        for intent in ("service.restart", "service.start", "service.stop"):
            scores[intent] -= 0.1
        scores["service.status"] -= 0.2
    if _has(r"\b(?:service|services|unit|daemon|demon)\b", text):
        for intent in ("service.restart", "service.start", "service.stop", "service.status"):
            scores[intent] += 0.1

    # A schedule phrase makes the rest of the request a nested task.
    if schedule is not None:
        scores["schedule.add"] += 0.75 + 0.5 * max(scores.values())
    else:
        scores["schedule.add"] -= 0.3

    # backup.sync wants a source and a destination.
    if len([p for p in paths if p != "/"]) >= 2 or _has(r"[\w.-]+@[\w.-]+:|[\w.-]+:/", text):
        scores["backup.sync"] += 0.15
        scores["files.find"] -= 0.1

    # Entities that favour one reading.
    if find_port(text) is not None:
        scores["network.listening"] += 0.2
    if _has(r"\b(?:plus de|more than|bigger than|larger than|over|greater than|>)\s*\d", text) or (
        find_size(text) is not None
    ):
        scores["files.find"] += 0.2
    if find_count(text) is not None:
        scores["process.top"] += 0.05
        scores["files.find"] += 0.05
    if find_device(text) is not None:
        scores["disk.health"] += 0.2
    return Features(scores, service, paths, schedule.cron if schedule else None, cleanup_object)


_METRICS = (
    ("cpu", r"\b(?:cpu|processeur|processor|proc)\b"),
    ("memory", r"\b(?:memoire|memory|ram|swap|mem)\b"),
    ("disk", r"\b(?:disques?|disks?|espace|space|stockage|storage)\b"),
    ("load", r"\b(?:charge|load|loadavg)\b"),
)


def _metric(text: str, allowed: tuple[str, ...]) -> str | None:
    for name, pattern in _METRICS:
        if name in allowed and re.search(pattern, text):
            return name
    return None


_DESTINATION = re.compile(
    r"\b(?:vers|to|into|dans|sur|onto|towards|destination|->|en)\s+(?:le |la |the |mon |my )?"
    r"(?:(?:dossier|repertoire|directory|folder|disque|disk|serveur|server|nas|host)\s+)?"
    r"((?:[\w.-]+@)?[\w.-]+:[\w./-]*|/[\w./@+-]*)"
)
_REMOTE = re.compile(r"(?<![\w/])((?:[\w.-]+@)?[\w.-]+:/[\w./@+-]*)")


def _backup(raw: str, text: str, paths: list[str]) -> dict[str, Any]:
    import os

    out: dict[str, Any] = {}
    dest: str | None = None
    m = _DESTINATION.search(raw.casefold())
    if m is not None:
        start = m.start(1)
        dest = raw[start : start + len(m.group(1))].rstrip(".,")
    else:
        r = _REMOTE.search(raw)
        if r is not None:
            dest = r.group(1).rstrip(".,")
    if dest is not None and dest.startswith("/"):
        dest = os.path.normpath(dest)
    sources = [p for p in paths if p != dest and not (dest and dest.endswith(":" + p))]
    if dest is None and len(sources) >= 2:
        dest = sources[1]
    if sources:
        out["path"] = sources[0]
    if dest is not None:
        out["destination"] = dest
    return out


_SCHEDULE_WORDS = re.compile(
    r"\b(?:planifie[rz]?|programme[rz]?|schedule|automatise[rz]?|automate|cron(?:tab)?|"
    r"(?:ajoute|cree|creer|add|create|set up|mets en place|mettre en place)\s+(?:une |un |a |an )?"
    r"(?:tache|job|cron|cronjob|entree cron|regle)(?:\s+(?:planifiee|cron|recurrente))?|"
    r"(?:une |un |a |an )?(?:tache|job|cronjob)(?:\s+(?:planifiee|cron|recurrente))?)\b"
)
_LEADING = re.compile(
    r"^(?:[\s,;:.-]|et\b|and\b|then\b|puis\b|to\b|pour\b|qui\b|that\b|which\b|de\b|d'|"
    r"afin de\b|in order to\b|please\b|stp\b|svp\b|s'il te plait\b|je veux\b|i want to\b|"
    r"i want\b|can you\b|peux-tu\b|pouvez-vous\b|le\b|la\b|les\b|l'|une?\b|the\b|a\b|an\b)+"
)
_TRAILING = re.compile(r"(?:[\s,;:.!?-]|\bet\b|\band\b|\bthen\b|\bpuis\b)+$")


def split_task(raw: str, folded: str, origin: list[int], spans: tuple[tuple[int, int], ...]) -> str:
    """The nested task of a schedule request: the request without its schedule phrase.

    Args:
        raw: The request as typed.
        folded: Its folded form (uncorrected), where ``spans`` were found.
        origin: For each folded character, its index in ``raw``.
        spans: The spans of the schedule phrase in ``folded``.

    Returns:
        The task, as typed ("every sunday at 3am restart nginx" → "restart nginx").
    """
    drop = [False] * len(raw)
    extra = [m.span() for m in _SCHEDULE_WORDS.finditer(folded)]
    for start, end in (*spans, *extra):
        if start >= end:
            continue
        lo = origin[start]
        hi = origin[end - 1] + 1
        for i in range(lo, hi):
            drop[i] = True
    kept = "".join(" " if d else c for c, d in zip(raw, drop, strict=True))
    kept = re.sub(r"\s+", " ", kept).strip()
    previous = None
    while previous != kept:
        previous = kept
        folded_kept = kept.casefold()
        m = _LEADING.match(folded_kept)
        if m is not None and m.end() > 0:
            kept = kept[m.end() :].lstrip()
        m2 = _TRAILING.search(kept.casefold())
        if m2 is not None:
            kept = kept[: m2.start()].rstrip()
    return kept


def packages_mode(text: str) -> str:
    """What a packages.update request wants: ``list``, or apply ``security`` or ``all`` updates."""
    apply = _has(
        r"\b(?:installe\w*|install\w*|applique\w*|apply|applying|fais|faire|lance\w*|run|"
        r"mets? a jour|mettre a jour|update (?:the |my |this )?(?:system|server|machine|packages|"
        r"serveur|systeme|everything|all)|upgrade\w*|patch (?:the|my|this)|deploie\w*|deploy|"
        r"proceed|go ahead|vas-y)\b",
        text,
    )
    question = _has(
        r"\b(?:quelles?|quels?|which|what|y a-t-il|y a t il|is there|are there|any|liste\w*|"
        r"list|show|montre|affiche|combien|how many|disponibles?|available|pending|en attente|"
        r"check|verifie\w*|est-ce qu|do i have|ai-je|faut-il|should)\b",
        text,
    )
    if question and not _has(r"\b(?:installe\w*|install\w*|applique\w*|apply)\b", text):
        apply = False
    if not apply:
        return "list"
    if _has(
        r"\b(?:securite|security|cve|correctifs? de securite|security (?:fixes|patches))\b", text
    ):
        return "security"
    return "all"


def cleanup_method(text: str) -> str:
    """How a cleanup request wants old files handled: ``delete``, ``compress`` or ``quarantine``."""
    if _has(
        r"\b(?:quarantaine|quarantine|move aside|mets? de cote|mettre de cote|deplace\w*|move|"
        r"isole\w*|set aside)\b",
        text,
    ):
        return "quarantine"
    if _has(r"\b(?:compress\w*|gzip\w*|zip\w*|archiv\w*)\b", text):
        return "compress"
    return "delete"


def entities_for(
    intent: str,
    text: str,
    raw: str,
    now: dt.datetime,
    catalog: ServiceCatalog | None = None,
    feats: Features | None = None,
) -> dict[str, Any]:
    """Extract the entities an intent takes (DESIGN.md's table).

    Args:
        intent: The intent id.
        text: The folded (typo-corrected) request.
        raw: The request as typed (paths keep their case).
        now: The current time in the agent's time zone.
        catalog: The service names known.
        feats: The grammar's features of ``text`` when already computed.
    """
    out: dict[str, Any] = {}
    every_path = find_paths(raw)
    paths = [p for p in every_path if p != "/"]
    if intent == "logs.summarize":
        source = paths[0] if paths else find_source(text)
        if source is not None:
            out["source"] = source
        since = find_since(text, now)
        if since is not None:
            out["since"] = since
        status = find_status(text)
        if status is not None:
            out["status"] = status
        pattern = find_pattern(raw, text)
        if pattern is None:
            ips = find_ips(text)
            pattern = ips[0] if ips else None
        if pattern is not None:
            out["pattern"] = pattern
    elif intent == "security.audit":
        since = find_since(text, now)
        if since is not None:
            out["since"] = since
    elif intent == "system.status":
        metric = _metric(text, ("cpu", "memory", "disk", "load"))
        if metric is not None:
            out["metric"] = metric
    elif intent == "disk.usage":
        if every_path:
            out["path"] = every_path[0]
    elif intent == "files.find":
        if every_path:
            out["path"] = every_path[0]
        size = find_size(text)
        if size is not None:
            out["size"] = size
        older = find_older_than(text)
        if older is not None:
            out["older_than"] = older
        count = find_count(text)
        if count is not None:
            out["count"] = count
    elif intent == "disk.cleanup":
        if len(paths) == 1:
            out["path"] = paths[0]
        elif paths:
            out["paths"] = paths
        older = find_older_than(text)
        if older is not None:
            out["older_than"] = older
        size = find_size(text)
        if size is not None:
            out["size"] = size
    elif intent == "disk.health":
        device = find_device(text)
        if device is not None:
            out["device"] = device
    elif intent.startswith("service."):
        service = (feats.service if feats is not None else None) or (
            catalog or ServiceCatalog()
        ).find(text)
        if service is not None:
            out["service"] = service
    elif intent == "process.top":
        metric = _metric(text, ("cpu", "memory"))
        if metric is not None:
            out["metric"] = metric
        count = find_count(text)
        if count is not None:
            out["count"] = count
    elif intent == "network.listening":
        port = find_port(text)
        if port is not None:
            out["port"] = port
    elif intent == "backup.sync":
        out.update(_backup(raw, text, paths))
    return out
