"""The words patients use, as data: what the symptom extractor looks for.

Each concept label names one thing a patient can report. Phrases use a tiny
alternation syntax, expanded by `expand`: "(can't|cannot) breathe" gives two
phrases; an empty alternative makes a group optional: "(my |)leg".

Phrases are matched on lower-cased tokens of the *normalised* text (see
`SPELLING`): write them with the canonical spelling ("can't", "won't").
"""
from __future__ import annotations

import re

# --- Typos and SMS-speak, fixed before anything else (whole words only). ---
SPELLING: dict[str, str] = {
    # answers
    "yh": "yes", "yeh": "yes", "yea": "yes", "ya": "yes", "yup": "yes", "yus": "yes",
    "ye": "yes", "yess": "yes", "yesss": "yes", "y": "yes",
    "naw": "nah", "noo": "no", "nooo": "no", "nop": "nope", "n": "and", "na": "nah",
    "idk": "i don't know", "dunno": "don't know", "dno": "don't know", "dk": "don't know",
    "unsure": "not sure", "notsure": "not sure", "nt": "not",
    # contractions written without apostrophes (or with a curly one, handled earlier)
    "cant": "can't", "cnt": "can't", "carnt": "can't", "dont": "don't", "dnt": "don't",
    "wont": "won't", "isnt": "isn't", "hasnt": "hasn't", "havent": "haven't",
    "doesnt": "doesn't", "didnt": "didn't", "wasnt": "wasn't", "arent": "aren't",
    "aint": "isn't", "couldnt": "couldn't", "shouldnt": "shouldn't", "wouldnt": "wouldn't",
    "im": "i'm", "ive": "i've", "id": "i'd", "its": "it's", "hes": "he's", "shes": "she's",
    "theres": "there's", "thats": "that's", "whats": "what's", "theyre": "they're",
    "u": "you", "ur": "your", "r": "are", "abit": "a bit", "bit": "bit", "lil": "little",
    "v": "very", "rly": "really", "realy": "really", "bc": "because",
    "coz": "because", "cos": "because", "pls": "please", "plz": "please", "wk": "week",
    "wks": "weeks", "hrs": "hours", "hr": "hour", "mins": "minutes", "min": "minutes",
    "2day": "today", "tmrw": "tomorrow", "2nite": "tonight", "tonite": "tonight",
    "nite": "night", "b4": "before", "gonna": "going to", "kinda": "kind of",
    "sorta": "sort of", "w/": "with", "w/o": "without", "wiv": "with",
    # symptom typos
    "fevr": "fever", "fver": "fever", "feaver": "fever", "fevor": "fever", "fevar": "fever",
    "fevers": "fever", "feverish": "feverish", "fevere": "fever", "fiver": "fever",
    "temp": "temperature", "tempreture": "temperature", "temprature": "temperature",
    "temperture": "temperature", "tempature": "temperature", "temperatue": "temperature",
    "bleedin": "bleeding", "bleding": "bleeding", "bledding": "bleeding", "bleeeding": "bleeding",
    "bleading": "bleeding", "bleedng": "bleeding", "bleds": "bleeds", "bld": "blood",
    "blod": "blood", "bloood": "blood",
    "swolen": "swollen", "swollan": "swollen", "sollen": "swollen", "swolln": "swollen",
    "swoolen": "swollen", "swolled": "swollen", "sweling": "swelling", "swolling": "swelling",
    "swellin": "swelling", "sweeling": "swelling", "swellling": "swelling",
    "redd": "red", "rednes": "redness", "rednesss": "redness",
    "puss": "pus", "pusss": "pus", "oozin": "oozing", "oozy": "oozing", "ozing": "oozing",
    "smel": "smell", "smels": "smells", "smelly": "smelly", "stinky": "smelly",
    "brusing": "bruising", "bruseing": "bruising", "bruized": "bruised", "brused": "bruised",
    "bruse": "bruise", "brusie": "bruise",
    "painfull": "painful", "paineful": "painful", "hurtin": "hurting", "achey": "achy",
    "sor": "sore", "soar": "sore", "tendr": "tender",
    "chils": "chills", "chillz": "chills", "chilly": "chilly", "shiverin": "shivering",
    "shivvering": "shivering", "shivvery": "shivery", "shiverring": "shivering",
    "breath": "breath", "brethe": "breathe", "breth": "breath", "breathin": "breathing",
    "brething": "breathing", "breating": "breathing",
    "dizy": "dizzy", "dizzie": "dizzy", "dizzey": "dizzy", "feint": "faint", "fainty": "faint", "feinted": "fainted", "fainted": "fainted",
    "lightheaded": "light-headed", "woozy": "woozy",
    "unconcious": "unconscious", "unconsious": "unconscious", "unconscience": "unconscious",
    "siezure": "seizure", "seizur": "seizure", "seisure": "seizure", "sezure": "seizure",
    "siezures": "seizures", "fiting": "fitting", "colapsed": "collapsed",
    "collasped": "collapsed", "colapse": "collapse", "collapsd": "collapsed",
    "numbe": "numb", "tinglin": "tingling", "tingly": "tingling", "tinglingg": "tingling",
    "glandz": "glands", "lymp": "lymph", "armpitt": "armpit", "arm-pit": "armpit",
    "chemo's": "chemo", "leukemia": "leukaemia", "dressin": "dressing",
    "confussed": "confused", "confuzed": "confused", "drowsey": "drowsy", "sleepey": "sleepy",
    "wnt": "won't", "thru": "through", "throu": "through", "tho": "though", "stoped": "stopped", "stopt": "stopped", "stoppd": "stopped",
    "apyrexial": "no fever", "afebrile": "no fever", "jus": "just", "bk": "back", "nada": "nothing", "nothings": "nothing's", "zilch": "nothing", "nowt": "nothing",
    "alot": "a lot", "loadsa": "loads of", "lotsa": "lots of",
    "bandaid": "plaster", "band-aid": "plaster",
}

# --- Concepts. Label -> phrases. ---
CONCEPTS: dict[str, list[str]] = {
    # Phrases that contain a symptom word but are not a symptom ("blood
    # thinners"); the longest match wins, so these shadow "blood" and friends.
    "NOT_SYMPTOM": [
        "(smells|smell|smelling) (fine|ok|okay|normal|clean|nice|of nothing)", "(glands|gland|nodes|node|neck|armpit|armpits|groin) (feel|feels|are|is|seem|seems|look|looks) (normal|fine|ok|okay|the same)", "lump in (my|his|her|their) throat (every|when|whenever)", "(eyes|eye|face|lips|ankles|feet) (are |is |)(swollen|puffy|red) from", "(blood|bleeding) (is |)from (my|her|their) (period|nose)", "(my|her|their) period",
        "(buggy|pram|pushchair|chair|tent|bed|table|shelf|umbrella|car seat|box) (collapsed|collapsing)", "not just",
        "(smells|smell|smelling|smelt) of nothing", "(doesn't|does not|don't) smell of anything",
        "(vein|veins|lung) (collapsed|collapsing)", "collapsed (vein|veins|lung)", "collapsed (when|as) they",
        "fit and (healthy|well)", "fit as a fiddle", "(i'm|i am|he's|he is|she's|she is|they're|they are) (otherwise |)(fit|fit and well)", "confused (by|about|with|over|at|as to)", "a bit confused (by|about|with)", "(i'm|i am) (warm|nice and warm) and (fine|well|ok|okay|comfortable)", "warm and (fine|comfortable|cosy|cozy)",
        "blood (thinner|thinners|thinning|test|tests|results|count|counts|cells|cell|pressure|sugar|sugars|disorder|disorders|cancer|cancers|type|sample|samples|bank|donor|transfusion|transfusions|work)",
        "(warm|hot) (bath|shower|water|drink|weather|day|room|compress|pack)", "red (cross|blood cells)",
        "fit (for|to) (work|school|drive)", "keep fit", "(feel|feels|feeling|felt) fine",
        "(hot|cold) water bottle", "pain (relief|killers|killer|medication|meds)",
    ],
    # Red flags at any point (policy: "At any point in the conversation").
    "BREATHING": [
        "breathing (funny|strangely|weird|oddly|noisily|really hard|very hard|with difficulty)", "(can't|cannot) get (enough |)(air|breath)", "struggling for (air|breath)", "gasping", "grunting", "(lips|face|skin) (are |is |)(turning |going |gone |)blue", "turning blue", "(too|so) breathless to (talk|speak)", "can't (talk|speak) (in full sentences|properly) (because|for) (of |)(breath|breathing)", "wheezy", "chest (is |)(heaving|sucking in)", "breathing (has |)(stopped|gone)",
        "(can't|cannot|can not|unable to|struggling to|struggle to|hard to|trouble to|fighting to|can hardly|can barely) (breathe|breath|get (my |his |her |their |)breath|catch (my |his |her |their |)breath|get air)",
        "(difficulty|trouble|problems|problem|struggling|labored|laboured|laborious) (breathing|with (my |his |her |their |)breathing)",
        "(short|shortness|shortage) of breath", "breathless", "breathlessness",
        "(gasping|fighting) for (breath|air)", "(he|she|i|they) (can't|cannot) breathe",
        "breathing is (hard|difficult|laboured|labored|struggling)", "not breathing",
        "stopped breathing", "blue lips", "lips (are |)(going |turning |)blue", "choking",
        "out of breath", "can barely breathe", "can hardly breathe", "wheezing",
    ],
    "CHEST_PAIN": [
        "(pressure|heaviness|tightness|crushing) (in|on|across) (my |his |her |their |the |)chest", "chest (feels |is |)(heavy|crushing|tight|squeezed)", "heart attack", "pains in (my |his |her |the |)chest",
        "chest pain", "chest pains", "pain in (my |his |her |their |the |)chest",
        "(my |his |her |their |the |)chest (hurts|is hurting|is painful|feels tight|is tight)",
        "tight chest", "tightness in (my |his |her |the |)chest", "chest tightness",
        "chest (is |)(really |very |)(sore|aching)", "crushing (pain|feeling) in (my |his |her |the |)chest",
        "heart pain", "pain in (my |his |her |the |)heart",
    ],
    "COLLAPSE": [
        "fell (down |over |)and (isn't|is not|wasn't|won't|can't) (moving|getting up|get up)", "dropped to the floor", "found (him|her|them) on the floor", "hit the floor", "crumpled", "went down",
        "collapsed", "collapse", "collapsing", "passed out", "passing out", "pass out",
        "blacked out", "blacking out", "fainted", "keeled over", "fell unconscious",
        "lost consciousness", "losing consciousness", "went down and won't get up",
    ],
    "UNCONSCIOUS": [
        "(can|could) (hardly|barely) (wake|rouse) (him|her|them)( up|)", "(really|very|so|rly) (hard|difficult) to (wake|rouse)( up|)", "goes (back off|back to sleep) (straight away|again|immediately)", "keeps (passing out|drifting off|going unconscious)",
        "out cold", "(won't|will not|isn't|is not|not) (come|coming) (round|around|to)", "(can't|cannot|couldn't) (bring|get) (him|her|them) (round|around)", "not moving", "isn't moving", "knocked out", "eyes (rolled|rolling) back", "barely responsive", "unrousable", "no response",
        "unconscious", "unresponsive", "not responding", "won't respond", "not waking up",
        "(won't|can't|cannot|will not|doesn't|does not) wake (up|)",
        "(hard|difficult|impossible) to wake( up|)", "(can't|cannot) (wake|rouse) (him|her|them)( up|)",
        "(hard|difficult) to rouse", "not rousable", "barely conscious", "drifting in and out",
    ],
    "SEIZURE": [
        "jerking", "twitching all over", "shaking all over", "(stiff|rigid) and (shaking|jerking)", "eyes (rolled|rolling) (back |up |)and (shaking|jerking)", "fitting",
        "seizure", "seizures", "seizing", "fit", "fits", "fitting", "having a fit",
        "convulsion", "convulsions", "convulsing", "shaking uncontrollably",
        "jerking uncontrollably", "epileptic fit",
    ],
    "FLOPPY": [
        "like a rag doll", "(can't|cannot|won't) hold (his|her|their) head up", "no muscle tone", "all floppy", "gone all floppy",
        "floppy", "gone limp", "is limp", "limp and", "really limp", "all limp", "lifeless",
        "very weak and floppy", "no energy at all and floppy",
    ],
    # Bleeding.
    "BLEED_HEAVY": [
        "(pouring|gushing|spurting|squirting|pumping|streaming|running) (out |)(blood|with blood)",
        "blood (is |keeps |)(pouring|gushing|spurting|squirting|pumping|streaming|running down)",
        "(bleeding|blood) (is |)(pouring|gushing|spurting|heavily|a lot|loads|everywhere)",
        "(bleeding|bleed|bleeds|blood) (won't|will not|doesn't|does not|isn't going to|can't|cannot) (stop|stopping|slow|slow down|ease)",
        "(won't|doesn't|does not|will not|can't|cannot|couldn't) stop (the |)(bleeding|it bleeding)",
        "(can't|cannot|couldn't) (get|make) (it|the bleeding) (to |)stop",
        "still bleeding after (pressing|pressure|10 minutes|ten minutes|holding)",
        "(bleeding|blood) (even |)(with|after|despite) (firm |)(pressure|pressing)",
        "(severe|massive|major|serious) (bleeding|bleed)", "bleeding (profusely|like mad)",
        "blood everywhere", "pool of blood", "puddle of blood", "haemorrhage", "hemorrhage",
        "haemorrhaging", "hemorrhaging",
    ],
    # Flow words that mean heavy bleeding when the talk is about bleeding
    # ("is it bleeding?" "yes it's pouring out").
    "HEAVY_FLOW": [
        "pouring", "pouring out", "gushing", "gushing out", "spurting", "spurting out",
        "squirting", "pumping out", "streaming", "running down (my |his |her |the |)(leg|back)",
        "(won't|doesn't|does not|will not) stop", "(can't|cannot|couldn't) stop it",
        "not stopping", "won't stop even", "everywhere", "soaked the bed",
        "soaking through everything",
    ],
    # Amounts: more bleeding than a spot, to be checked (does it stop with pressure?).
    "BLEED_LOTS": [
        "(heavy|heavily|a lot of|lots of|loads of|so much|quite a lot of|quite a bit of|a fair bit of|plenty of) (bleeding|blood)",
        "(bleeding|bled|bleeds|bleed) (quite |)(a lot|heavily|loads|a fair bit|quite a bit|badly)", "dripping", "dripping blood",
    ],
    # Bleeding that comes back, when the talk is about bleeding ("it stopped but
    # then started again").
    "RECURRING": [
        "(started|starts|starting|begun|began|keeps starting|kept starting) again",
        "(comes|came|keeps coming|kept coming) back", "on and off", "off and on",
        "keeps (going|happening)", "again and again", "every time (i|he|she|they) move(s|)",
        "(won't|doesn't|does not) stay stopped", "(still|keeps) (oozing|weeping|seeping|leaking|dripping)",
    ],
    "BLEED_CONTINUED": [
        "(keeps|kept|keep) (on |)(bleeding|oozing blood|weeping blood|coming back)",
        "(still|again|started) bleeding", "(hasn't|has not|haven't|not|never|still not|still hasn't) stopped bleeding",
        "(bleeding|it|blood) (hasn't|has not|still hasn't|still has not|never) (stopped|stopped bleeding|stopped completely)", "bleeding again", "bleeding still",
        "(started|starting|begun|began) (to |)bleed(ing|) again", "bled (again|through)",
        "(soaked|soaking|soaked through|bled through|leaked through|bleeding through)",
        "through the (dressing|plaster|bandage)", "oozing blood", "weeping blood",
        "blood (keeps|kept) (coming|oozing)", "keeps oozing", "oozing on and off",
        "(won't|doesn't) stay stopped", "on and off bleeding", "bleeding on and off",
        "continued bleeding", "continuous bleeding", "constant bleeding", "prolonged bleeding",
        "bleeding for hours", "bleeding all day", "bleeding all night", "new blood",
        "fresh blood", "blood coming out", "bleeding a bit more", "more bleeding",
    ],
    "BLEED_MINOR": [
        "not (much|a lot of) (blood|bleeding)", "(a couple of|a few|two|three|some|couple of) (spots|dots|specks|drops) (of blood|on the (plaster|dressing|bandage)|)",
        "(little |tiny |small |)(spot|speck|dot|smear|drop|bit|touch|mark) of red (on|in)",
        "(bled|bleed|bleeding) (a |)(tiny|little|small|wee|teeny) (bit|amount)", "(bled|bleed) (a |)(tiny |little |)bit",
        "(small|tiny|little|wee|bit of|spot of|dot of|speck of|smear of) (spot of |bit of |amount of |)(blood|bleeding)",
        "(spot|spots|dot|speck|smear|drop|drops) of blood", "(a |)(little|tiny|small) bit of blood",
        "(a |)(little|tiny|small) (spot|dot|mark|bleed)", "a bit of blood",
        "blood on the (dressing|plaster|bandage|gauze)", "slightly bloody", "spotting",
        "tiny bleed", "minor bleeding", "minimal bleeding", "barely any blood",
    ],
    "BLEED_STOPPED": [
        "(bleeding|it|blood|bleed) (has |had |)(stopped|stopped now|stopped bleeding|dried|dried up|gone)",
        "(then|but|and|which|that) (it |)(stopped|dried up)", "stopped (by itself|on its own|straight away|quickly|right away|after a (few|couple of) minutes)",
        "stopped bleeding", "not bleeding (any more|anymore|now)", "no longer bleeding",
        "(it's|it is) (dried|dry) now", "(bled|bleed) (a bit |a little |)(but|then) stopped",
    ],
    "BLEED_STOPS_WITH_PRESSURE": [
        "stop(s|ped|) (with|after|when i|when we|once i|once we|if i|if we) (press|pressed|pressing|pressure|held|hold|holding)",
        "(pressing|pressure|holding) (on it |)(stop|stops|stopped) it",
        "(stops|stopped) (if|when|once) (you|i|we) press",
    ],
    "BLEED": [
        "bleeding", "bleed", "bleeds", "bled", "blood", "bloody", "blood stained",
        "bloodstained", "blood-stained", "haematoma", "hematoma",
    ],
    "BRUISE": [
        "bruise", "bruises", "bruising", "bruised", "black and blue", "purple mark",
        "purple patch", "dark mark", "discoloured", "discolored", "discolouration",
    ],
    "FAINT": [
        "(nearly|almost) (fainted|passed out|collapsed|blacked out|keeled over)", "felt like (i|he|she) (might|would|was going to) (faint|pass out)",
        "faint", "feeling faint", "feel faint", "dizzy", "dizziness", "light-headed",
        "light headed", "woozy", "clammy", "cold and clammy", "cold sweat", "cold sweats",
        "room is spinning", "going to pass out", "about to pass out", "going to faint",
        "might faint", "about to faint", "weak and dizzy", "very pale and dizzy",
    ],
    # Fever.
    "FEVER": [
        "a temperature",
        "fever", "feverish", "febrile", "high temperature", "raised temperature",
        "(got a|has a|have a|had a|running a|with a|a bit of a|slight) temperature",
        "temperature (is |was |)(high|up|raised)", "pyrexia", "burning up",
        "high temp", "hot and cold", "hot and sweaty", "(feel|feels|feeling|felt|is|was) (really |very |a bit |quite |)(hot|boiling) (all over|to (the |)touch)",
        "(hot|burning) (forehead|head)", "(forehead|head) (is |feels |)(hot|burning)",
        "sweats", "night sweats", "sweating a lot", "sweaty and hot",
    ],
    "CHILLS": [
        "freezing", "freezing cold", "(cold and|and cold) (shaking|shaky|shivering)", "shaking with (cold|chills)", "shaky and shivery", "can't stop shaking",
        "chills", "chill", "chilly", "shivers", "shivering", "shivery", "shiver",
        "rigors", "rigor", "shaking with cold", "teeth chattering", "cold shivers",
        "shaky and cold", "can't get warm",
    ],
    "FEEL_HOT": [
        "(feel|feels|feeling|felt) (really |very |a bit |quite |so |)(hot|boiling|warm)",
        "(i'm|i am|he's|he is|she's|she is|they're|they are) (really |very |a bit |quite |so |)(hot|boiling)",
    ],
    "CONFUSED": [
        "confused", "confusion", "disoriented", "disorientated", "delirious", "not making sense",
        "talking nonsense", "talking gibberish", "doesn't know where (he|she|they|i) (is|are|am)",
        "not with it", "muddled", "seeing things", "hallucinating",
    ],
    "VERY_DROWSY": [
        "so (sleepy|drowsy)", "(hardly|barely) awake", "just wants to sleep", "won't stop sleeping",
        "very drowsy", "really drowsy", "extremely drowsy", "very sleepy", "really sleepy",
        "extremely sleepy", "can't stay awake", "can't keep (his|her|my|their) eyes open",
        "(so |really |very |)lethargic", "very lethargic", "keeps falling asleep", "drowsy",
    ],
    "FAST_BREATHING": [
        "breathing (fast|quickly|quick|rapidly|very fast|really fast|heavily|hard)",
        "(fast|rapid|quick|heavy) breathing", "panting", "breathing faster",
    ],
    "MOTTLED": [
        "mottled", "blotchy (skin|and pale)", "(skin|lips) (is |are |looks |)(blue|grey|gray|bluish|ashen)",
        "(blue|grey|gray|ashen) (skin|lips)", "rash that doesn't fade", "rash that does not fade",
        "non blanching rash", "non-blanching rash",
    ],
    "VERY_PALE": [
        "very pale", "really pale", "extremely pale", "so pale", "white as a sheet",
        "pale as a ghost", "deathly pale", "grey looking", "ashen",
    ],
    "IMMUNE_WEAK": [
        "chemo", "chemotherapy", "on chemo", "having chemo", "leukaemia", "lymphoma",
        "myeloma", "cancer treatment", "treatment for cancer", "being treated for cancer",
        "(weak|weakened|low|poor|compromised|suppressed) immune (system|systems)",
        "immune (system |)(is |)(weak|weakened|low|compromised|suppressed)",
        "immunocompromised", "immunosuppressed", "immunosuppressants", "immunosuppression",
        "neutropenic", "neutropenia", "low white (count|cells|blood cells|cell count)",
        "low neutrophils", "blood disorder", "blood cancer", "aplastic anaemia",
        "transplant", "stem cell transplant", "bone marrow transplant", "radiotherapy",
        "on steroids", "high dose steroids", "sickle cell",
    ],
    # Site: swelling, redness, warmth, pain.
    "SPREADING_REDNESS": [
        "(redness|red area|red patch|red bit|the red|red mark|red|rash) (is |are |)(spreading|getting bigger|growing|spreads|spread|moving|tracking)",
        "spreading (redness|red|rash)", "red (streaks|streak|lines|line|tracks|track)",
        "(streaks|streak|lines|line|tracks|track) (of red|going up|running up|coming from|spreading)",
        "streaking", "cellulitis",
    ],
    "PAIN_UNCONTROLLED": [
        "(tylenol|advil|motrin|acetaminophen|aspirin|naproxen|painkiller|pain killer|co-codamol|tramadol|morphine|oramorph) (is |are |)(not|isn't|aren't|doesn't|don't|didn't|hasn't|haven't) (touching|touch|helping|help|working|work|doing anything|easing|ease)( it| the pain|)",
        "(painkillers|pain killers|paracetamol|ibuprofen|calpol|nurofen|co-codamol|codeine|pain relief|tablets|medicine|meds) (are |is |)(not|aren't|isn't|don't|doesn't|didn't|haven't|hasn't|won't|are not|is not|do not|does not) (working|helping|touching it|touching|doing anything|help|work|helped|worked|easing it|ease it|making a difference|even touching it)",
        "(not|isn't|aren't|no) (helped|eased|controlled|touched|relieved) by (painkillers|pain killers|paracetamol|ibuprofen|calpol|nurofen|anything|medicine|tablets|pain relief)",
        "nothing (helps|is helping|eases|touches|works)", "even with (painkillers|paracetamol|pain killers|calpol|ibuprofen)",
        "despite (painkillers|paracetamol|pain killers|calpol|ibuprofen)",
        "(unbearable|excruciating|agonising|agonizing|agony|worst pain|screaming in pain|crying in pain|screaming with pain|in agony)",
        "pain (is |)out of control", "(uncontrolled|uncontrollable) pain",
    ],
    "IMMOBILE": [
        "(can't|cannot|can not|unable to|won't|will not|refuses to|refusing to) (move|bend|lift|use|walk on|stand on) (my |his |her |their |the |)(leg|legs|hip|arm|back|limb|foot)",
        "(can't|cannot|can not|unable to|won't|will not|refuses to|refusing to) (walk|stand|stand up|bear weight|weight bear|put weight|put any weight|put (my |his |her |their |)weight)",
        "(can't|cannot|won't|refuses to|refusing to) put (any |)weight on",
        "not (walking|weight bearing|putting weight)", "(leg|hip) (gave|gives|keeps giving) way",
        "heard a (crack|snap)", "felt a (crack|snap)", "(broken|fractured) (bone|hip|leg)",
    ],
    "NUMB": [
        "numb", "numbness", "tingling", "tingles", "pins and needles", "no feeling",
        "(can't|cannot) feel (my |his |her |their |the |)(leg|legs|foot|feet|toes|arm|hand|hip|bum|buttock)",
        "(leg|legs|foot|feet|arm|hand|limb|toes|knee|thigh|bum|buttock) (is |are |feels |feel |went |has gone |gone |has felt |felt |has been |is feeling |keeps feeling |been |)(a bit |a little |really |very |quite |kind of |sort of |)(weak|weaker|numb|dead|floppy|strange|odd|funny|weird|different|wrong|heavy|tingly|asleep)",
        "(keep|keeps|kept) (tripping|stumbling|falling|dragging (my|his|her|their) (foot|leg))",
        "dragging (my|his|her|their) (foot|leg)",
        "weak (leg|legs|foot|arm|hand|limb)", "weakness in (my |his |her |their |the |)(leg|legs|foot|arm|hand|limb)",
        "(leg|limb|foot) weakness", "dead leg", "lost feeling", "loss of feeling", "foot drop",
        "(my |his |her |)leg (is |)(giving way|gives way|gave way)", "burning pain down",
        "shooting pain down", "electric shock",
    ],
    "PAIN_WORSE": [
        "(pain|soreness|ache|it|tenderness|hip|leg|site)('s| is| has| has got| got| getting| gets|) (way |much |a lot |far |even |)(worse|sorer|more painful|more sore)", "way worse", "much worse", "far worse",
        "(more|increasing|increased|increasingly|worsening|worse|worst|extra) (painful|pain|sore|soreness|tender)",
        "(pain|soreness|ache|aching|it|tenderness) (is |has |has got |got |getting |gets |)(worse|worse and worse|increasing|increased|getting worse|got worse)",
        "(more|much) (sore|painful) than", "(hurts|hurting|sore|sorer|painful) more",
        "sorer", "getting sorer", "worse pain", "really painful", "very painful", "so painful",
        "extremely painful", "severe pain", "really bad pain", "really hurts", "hurts a lot",
        "hurts so much", "really sore", "very sore", "so sore", "extremely sore",
        "really bad", "throbbing", "killing (me|him|her)",
    ],
    "SORE": [
        "sore", "soreness", "ache", "aches", "aching", "achy", "tender", "tenderness",
        "discomfort", "uncomfortable", "pain", "painful", "hurts", "hurt", "hurting",
        "stiff", "stiffness", "twinges", "niggle",
    ],
    "EASING": [
        "easing", "eased", "easing off", "getting better", "better", "improving", "improved",
        "settling", "settled", "going down", "gone down", "less sore", "less painful",
        "fading", "calming down",
    ],
    "SWELLING": [
        "(lump|bump|swelling|knot) (at|on|by|near|around|under) the (biopsy |needle |puncture |)(site|wound|spot|hole|plaster|dressing)",
        "puffier", "puffed", "(bigger|fatter|thicker) than the other (side|one|hip|leg)",
        "swollen", "swelling", "swelled", "puffy", "puffed up", "raised", "bulging",
        "lump at the site", "lump where", "lump on (my |his |her |the |)(hip|back|site)",
        "hard lump", "inflamed", "inflammation",
    ],
    "REDNESS": [
        "red", "redness", "reddish", "reddened", "pink", "pinkish", "angry looking",
        "angry-looking", "looks angry", "rash", "flushed",
    ],
    "WARMTH": [
        "warm", "warmth", "hot", "heat", "burning", "warmer", "hotter", "hot to touch",
        "warm to touch", "warm to the touch", "hot to the touch",
    ],
    # Pus, oozing, smell.
    "PUS": [
        "whiff", "stench", "reek", "reeks", "reeking", "niff", "smelt (bad|funny|off|awful|horrible)", "smelled (bad|funny|off|awful|horrible)", "smells (bad|funny|off|awful|horrible)",
        "pus", "pussy", "puss", "infected", "infection", "discharge", "discharging",
        "oozing", "oozes", "ooze", "weeping", "weeps", "leaking", "leaks", "seeping",
        "draining", "drainage", "gunk", "goo", "gooey", "sticky stuff", "crusty",
        "(yellow|green|greenish|yellowish|cloudy|milky|white|creamy|brown|thick) (fluid|liquid|stuff|gunk|goo|discharge|ooze|pus|crust)",
        "smell", "smells", "smelly", "smelling", "stinks", "stinking", "stink", "whiffy",
        "odour", "odor", "pong", "pongs", "abscess", "boil",
    ],
    # A lump with no place said: the glands if that is what was asked.
    "LUMP": ["lump", "lumps", "bump", "bumps", "knot", "knots", "nodule", "nodules", "lumpy"],  # see dialogue
    # Lymph nodes.
    "LYMPH": [
        "(enlarged|swollen|big|bigger|raised|tender) (node|nodes|glands|gland)", "(nodes|node|glands|gland) (are |is |feel |look |seem |)(enlarged|swollen|bigger|up|raised|up a bit|big)", "(neck|armpit|groin) (nodes|node)",
        "(one|something|a lump|a bump|a swelling|a knot|a hard bit) (in|under|on) (my |his |her |their |the |)(groin|armpit|armpits|neck|underarm|arm)", "(lump|lumps|bump|bumps|knot|knots|swelling|swellings|nodule|nodules|bean|pea|marble|grape)(-sized| sized|) (lump |bump |thing |)(in|under|on) (my |his |her |their |the |)(groin|armpit|armpits|neck|underarm|arm|jaw|throat|collarbone)",
        "lymph node", "lymph nodes", "lymph glands", "lymph gland", "glands", "gland",
        "swollen glands", "swollen gland",
        "(lump|lumps|bump|bumps|swelling|swellings|knot|knots|lumpy|swollen|bulge) (in|under|on|at|near|around) (my |his |her |their |the |your |)(neck|armpit|armpits|arm pit|groin|throat|underarm|jaw)",
        "(neck|armpit|armpits|groin|underarm|throat) (is |are |feels |looks |has |)(lumpy|swollen|a lump|lumps|a bump|bumpy)",
        "(lump|lumps|bump|bumps) (in|under) (my |his |her |their |the |)(arm|arms)",
    ],
}

# --- Words near each other in one clause ("crushing pain in the middle of my
# chest"): token patterns for the EntityRuler, up to NEAR_GAP words apart. ---
NEAR_GAP = 5
CLAUSE_BREAKERS = ["but", "and", "though", "although", "however", "except", "apart", ",", ".",
                   ";", ":", "!", "?", "-", "because", "so", "then", "whereas", "while"]
NEAR: dict[str, list[tuple[list[str], list[str]]]] = {
    "LYMPH": [
        (["node", "nodes", "gland", "glands"], ["enlarged", "swollen", "up", "bigger", "raised",
                                               "lumpy", "tender", "hard", "big"]),
    ],
    "BLEED_HEAVY": [
        (["bleeding", "blood", "bleed", "bled", "it's"], ["pouring", "gushing", "spurting", "pumping",
                                                         "squirting", "streaming", "haemorrhaging"]),
    ],
    "UNCONSCIOUS": [
        (["struggling", "struggle", "hard", "difficult", "can't", "cannot", "unable", "trouble",
          "won't", "impossible"], ["wake", "waking", "rouse", "rousing"]),
    ],
    "CHEST_PAIN": [
        (["pain", "pains", "painful", "hurts", "hurting", "hurt", "tight", "tightness", "heavy",
          "heaviness", "pressure", "crushing", "squeezing", "squeezed", "aching", "ache", "burning",
          "stabbing", "sharp", "elephant", "weight", "agony", "sore", "band"], ["chest"]),
        (["chest"], ["pain", "pains", "painful", "hurts", "hurting", "hurt", "tight", "tightness",
                     "heavy", "heaviness", "pressure", "crushing", "crushed", "squeezing", "squeezed",
                     "aching", "aches", "burning", "stabbing", "elephant", "weight", "agony"]),
    ],
    "BREATHING": [
        (["can't", "cannot", "unable", "struggling", "struggle", "struggles", "trouble", "difficulty",
          "difficult", "hard", "problem", "problems", "fighting", "gasping", "labouring", "laboring"],
         ["breathe", "breath", "breathing"]),
        (["breathing", "breath"], ["laboured", "labored", "noisy", "rattly", "rattling", "wheezy",
                                   "struggling", "difficult", "hard", "gasping", "shallow"]),
    ],
}


def near_patterns() -> list[dict]:
    """EntityRuler token patterns for NEAR: a word of the first list, then up to
    NEAR_GAP words that do not end the clause, then a word of the second list."""
    patterns = []
    gap = {"LOWER": {"NOT_IN": CLAUSE_BREAKERS}, "OP": "?"}
    for label, pairs in NEAR.items():
        for first, second in pairs:
            patterns.append({"label": label, "pattern": [
                {"LOWER": {"IN": first}}, *([gap] * NEAR_GAP), {"LOWER": {"IN": second}}]})
    return patterns


# Whole-message patterns the token rules cannot express (numbers and long gaps in
# between); each match adds a present mention. Keep them specific: no negation.
REGEX_CONCEPTS: dict[str, list[str]] = {
    "BLEED_HEAVY": [
        r"\b(press\w*|held|holding|pressure)\b.{0,60}\b(won't stop|not stopping|doesn't stop|"
        r"didn't stop|hasn't stopped|isn't stopping|still (bleeding|going|coming|pouring|oozing|"
        r"dripping|trickling|welling|running))",
        r"\bstill (bleeding|pouring|gushing|dripping|coming)\b.{0,40}\b(press\w*|pressure|held|holding)\b",
    ],
}


# Labels that decide the patient's topic, and which form slot they answer.
TOPIC_OF_LABEL: dict[str, str] = {
    "BLEED_HEAVY": "bleeding", "BLEED_CONTINUED": "bleeding", "BLEED_MINOR": "bleeding",
    "BLEED_STOPPED": "bleeding", "BLEED": "bleeding", "BRUISE": "bleeding",
    "BLEED_STOPS_WITH_PRESSURE": "bleeding_stops_with_pressure", "HEAVY_FLOW": "bleeding",
    "BLEED_LOTS": "bleeding",
    "RECURRING": "bleeding",
    "FAINT": "feeling_faint",
    "FEVER": "fever", "CHILLS": "fever", "FEEL_HOT": "fever",
    "CONFUSED": "very_unwell", "VERY_DROWSY": "very_unwell", "FAST_BREATHING": "very_unwell",
    "MOTTLED": "very_unwell", "VERY_PALE": "very_unwell",
    "IMMUNE_WEAK": "immune_weak",
    "SPREADING_REDNESS": "spreading_redness", "PAIN_UNCONTROLLED": "pain_uncontrolled",
    "IMMOBILE": "pain_uncontrolled", "NUMB": "numbness",
    "PAIN_WORSE": "swelling", "SORE": "swelling", "SWELLING": "swelling",
    "REDNESS": "swelling", "WARMTH": "swelling", "EASING": "swelling",
    "PUS": "pus", "LYMPH": "lymph_nodes", "LUMP": "lymph_nodes",
    "BREATHING": "red_flag", "CHEST_PAIN": "red_flag", "COLLAPSE": "red_flag",
    "UNCONSCIOUS": "red_flag", "SEIZURE": "red_flag", "FLOPPY": "red_flag",
}

# --- Negation (negspacy termset), tuned to how patients write. ---
NEGATION_TERMSET: dict[str, list[str]] = {
    # Phrases that look like negations but are not (checked first).
    "pseudo_negations": [
        "not sure", "not certain", "not too sure", "not 100% sure", "not 100 % sure",
        "don't know", "do not know", "didn't know", "no idea", "can't tell", "cannot tell",
        "can't say", "hard to tell", "not only", "no change", "not sure if", "no more than",
        "can't remember", "don't think so", "not that i know", "haven't checked",
        "haven't measured", "haven't taken", "not checked", "not measured",
        "hasn't stopped", "has not stopped", "haven't stopped", "won't stop", "will not stop",
        "doesn't stop", "does not stop", "didn't stop", "did not stop", "not stopped",
        "isn't stopping", "not stopping", "can't stop", "cannot stop", "couldn't stop",
        "hasn't gone", "has not gone", "not gone", "hasn't eased", "not eased", "isn't easing",
        "not easing", "not getting better", "isn't getting better", "not better",
        "not improving", "isn't improving", "hasn't improved", "not helping", "isn't helping",
        "not working", "aren't working", "isn't working", "don't help", "doesn't help",
        "can't move", "cannot move", "can't walk", "cannot walk", "can't stand", "won't walk",
        "can't feel", "cannot feel", "can't breathe", "cannot breathe", "can't wake",
        "won't wake", "not waking", "not responding", "can't get warm", "not making sense",
        "can't stay awake", "can't keep", "can't put", "won't put", "cannot put",
        "not breathing", "not with it", "no feeling", "won't respond", "doesn't respond",
        "not walking", "not weight bearing", "not putting weight", "not eating",
        "wasn't there before", "weren't there before", "not there before", "wasn't there yesterday",
        "can't say it isn't", "can't say it's not", "can't say it is not", "wouldn't say it isn't",
        "no way that's not", "no way it's not", "no way it isn't", "not much", "not a lot",
        "wouldn't say it's not", "not that it isn't", "can't deny", "cannot deny",
        "didn't have before", "never had before", "hasn't stopped", "not stopped",
    ],
    "preceding_negations": [
        "no", "not", "nor", "neither", "none", "never", "without", "nothing", "zero",
        "no sign of", "no signs of", "no sign", "free of", "absence of", "denies",
        "isn't", "aren't", "wasn't", "weren't", "hasn't", "haven't", "hadn't", "doesn't",
        "don't", "didn't", "can't see", "cannot see", "can't see any", "not any",
        "no longer", "no more", "no real", "no obvious", "nil", "non", "nope", "nah",
        "history of", "used to have", "used to get", "previous", "previously had",
        "wouldn't say", "would not say", "wouldn't call it", "not what i'd call", "not as such",
        "negative on", "negative for", "negative re",
        "free from", "not a hint of", "not a trace of",
        "not really", "not at all", "barely any", "hardly any", "no new",
    ],
    "following_negations": [
        "none", "gone", "has gone", "have gone", "gone now", "gone away", "went away",
        "has settled", "settled down", "stopped", "has stopped", "cleared", "cleared up",
        "resolved", "not present", "absent", "free", "nil", "no more", "disappeared",
        "not there", "isn't there", "aren't there", "not any more",
        "not anymore", "any more", "anymore",
        # history, not now
        "years ago", "year ago", "months ago", "month ago", "as a baby", "as a child",
        "when (he|she|i|they) (was|were) (little|a baby|younger|small)", "in the past",
    ],
    # Negation scope ends at these (and at sentence ends and commas, see extraction).
    "termination": [
        "but", "however", "although", "though", "except", "apart from", "aside from",
        "other than", "besides", "yet", "still", "which", "whereas", "while", "now",
        "then", "and", "plus", "also", "because", "as", "since", "just", "only",
        ",", ";", ":", "-", "!", "?", "also", "...", "…", "omg", "oh my god", "wait",
        "actually", "help", "oh",
    ],
}

# Hedges that make a finding uncertain rather than present or absent; modelled
# as a second negex pass ("not sure if there's pus" -> pus unsure).
UNSURE_TERMSET: dict[str, list[str]] = {
    "pseudo_negations": ["i think so", "i'm sure", "definitely", "i know"],
    "preceding_negations": [
        "not sure", "not sure if", "not sure whether", "not certain", "not too sure",
        "don't know", "do not know", "don't know if", "no idea", "can't tell",
        "cannot tell", "hard to tell", "difficult to tell", "can't say", "unsure",
        "wondering if", "might be", "could be", "possibly", "not 100% sure",
    ],
    "following_negations": [
        "not sure", "i'm not sure", "i don't know", "don't know", "maybe not",
        "i can't tell", "can't tell", "hard to tell",
    ],
    "termination": NEGATION_TERMSET["termination"],
}


def expand(phrase: str) -> list[str]:
    """Expand "(a|b) c" into ["a c", "b c"]; groups may nest."""
    return sorted({re.sub(r"\s+", " ", text).strip() for text in _expand(phrase)} - {""})


def _expand(phrase: str) -> list[str]:
    start = phrase.find("(")
    if start < 0:
        return [phrase]
    depth, options, piece_start = 0, [], start + 1
    for i in range(start, len(phrase)):
        char = phrase[i]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                options.append(phrase[piece_start:i])
                end = i
                break
        elif char == "|" and depth == 1:
            options.append(phrase[piece_start:i])
            piece_start = i + 1
    head, tail = phrase[:start], _expand(phrase[end + 1:])
    return [head + o + t for option in options for o in _expand(option) for t in tail]
