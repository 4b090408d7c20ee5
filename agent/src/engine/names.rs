//! Docker-style random container names: adjective_surname.

use rand::seq::SliceRandom;

const LEFT: &[&str] = &[
    "admiring", "adoring", "affectionate", "agitated", "amazing", "angry", "awesome", "blissful", "bold", "boring",
    "brave", "busy", "charming", "clever", "cool", "compassionate", "competent", "confident", "cranky", "crazy",
    "dazzling", "determined", "distracted", "dreamy", "eager", "ecstatic", "elastic", "elated", "elegant", "eloquent",
    "epic", "fervent", "festive", "flamboyant", "focused", "friendly", "frosty", "gallant", "gifted", "goofy",
    "gracious", "happy", "hardcore", "heuristic", "hopeful", "hungry", "infallible", "inspiring", "jolly", "jovial",
    "keen", "kind", "laughing", "loving", "lucid", "magical", "mystifying", "modest", "musing", "naughty",
    "nervous", "nice", "nifty", "nostalgic", "objective", "optimistic", "peaceful", "pedantic", "pensive", "practical",
    "priceless", "quirky", "quizzical", "recursing", "relaxed", "reverent", "romantic", "sad", "serene", "sharp",
    "silly", "sleepy", "stoic", "strange", "stupefied", "suspicious", "sweet", "tender", "thirsty", "trusting",
    "unruffled", "upbeat", "vibrant", "vigilant", "vigorous", "wizardly", "wonderful", "xenodochial", "youthful", "zealous",
];

const RIGHT: &[&str] = &[
    "albattani", "allen", "almeida", "archimedes", "ardinghelli", "aryabhata", "austin", "babbage", "banach", "bardeen",
    "bartik", "bassi", "bell", "bhabha", "blackwell", "bohr", "booth", "borg", "bose", "boyd", "brahmagupta", "brattain",
    "brown", "carson", "chandrasekhar", "clarke", "colden", "cori", "cray", "curie", "darwin", "davinci", "dijkstra",
    "dubinsky", "easley", "einstein", "elion", "engelbart", "euclid", "euler", "fermat", "fermi", "feynman", "franklin",
    "galileo", "gates", "goldberg", "goodall", "hamilton", "hawking", "heisenberg", "hodgkin", "hopper", "hypatia",
    "jackson", "jang", "jennings", "johnson", "kalam", "keller", "kepler", "khorana", "kilby", "knuth", "kowalevski",
    "lalande", "lamarr", "leakey", "leavitt", "lovelace", "lumiere", "mayer", "mccarthy", "mclean", "meitner", "mendel",
    "merkle", "mirzakhani", "morse", "napier", "newton", "nobel", "noether", "pare", "pascal", "pasteur", "perlman",
    "pike", "poincare", "ptolemy", "raman", "ritchie", "rosalind", "sammet", "shannon", "shaw", "sinoussi", "snyder",
    "stallman", "swanson", "tesla", "thompson", "torvalds", "turing", "villani", "wiles", "williams", "wozniak", "wright",
    "yalow", "yonath",
];

pub fn random_name(retry: usize) -> String {
    let mut rng = rand::thread_rng();
    let mut n = format!("{}_{}", LEFT.choose(&mut rng).unwrap_or(&"happy"), RIGHT.choose(&mut rng).unwrap_or(&"turing"));
    if n == "boring_wozniak" {
        n = "happy_wozniak".into(); // Steve Wozniak is not boring (as Docker says)
    }
    if retry > 0 {
        n.push_str(&rand::random::<u8>().to_string()[..1]);
    }
    n
}

/// Docker's rule for user-given names.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}
